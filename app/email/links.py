"""Signed unsubscribe links: the token names the lead and proves FirstRing wrote it, so the
public unsubscribe page needs no login and cannot be pointed at someone else's lead."""

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path
from uuid import UUID

from app.config import Settings, get_settings

SECRET_FILE = "link-signing-secret"
# Mixed into every signature, so a signature made for one kind of link never validates another.
UNSUBSCRIBE_PURPOSE = b"unsubscribe:"
DIGEST_BYTES = hashlib.sha256().digest_size


def signing_secret(settings: Settings) -> bytes:
    configured = settings.link_signing_secret.get_secret_value()
    if configured:
        return configured.encode()
    return stored_secret(settings.data_dir.resolve() / SECRET_FILE)


@lru_cache
def stored_secret(path: Path) -> bytes:
    """The generated secret, created by whichever process needs it first (the api and the
    worker share DATA_DIR). It is written whole under a private name and then linked into place,
    so a process that loses the race never reads a half-written file, and both use the winner's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(draft, path)  # fails if another process got there first: theirs is kept
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    secret = path.read_text().strip()
    if not secret:
        raise RuntimeError(f"{path} is empty; delete it or set LINK_SIGNING_SECRET.")
    return secret.encode()


def sign(lead_id: UUID, settings: Settings) -> bytes:
    return hmac.new(
        signing_secret(settings), UNSUBSCRIBE_PURPOSE + lead_id.bytes, hashlib.sha256
    ).digest()


def unsubscribe_token(lead_id: UUID, settings: Settings) -> str:
    raw = lead_id.bytes + sign(lead_id, settings)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsubscribe_url(lead_id: UUID, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    base = settings.public_base_url.rstrip("/")
    return f"{base}/unsubscribe/{unsubscribe_token(lead_id, settings)}"


def lead_id_from_token(token: str, settings: Settings) -> UUID | None:
    """The lead a token was made for, or None for anything FirstRing did not sign."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 16 + DIGEST_BYTES:
        return None
    lead_id = UUID(bytes=raw[:16])
    if not hmac.compare_digest(raw[16:], sign(lead_id, settings)):
        return None
    return lead_id
