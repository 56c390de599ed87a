"""Integrator API keys: shown once at creation, stored only as a SHA-256 hash."""

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound, Unauthorized
from app.models import ApiKey


class Scope(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


# Each scope includes the ones before it.
SCOPE_ORDER = [Scope.read, Scope.write, Scope.admin]
KEY_PREFIX = "fr_"
# Writing last_used_at on every request would turn every read into a write;
# a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def allows(scopes: list[str], needed: Scope) -> bool:
    granted = [SCOPE_ORDER.index(Scope(s)) for s in scopes if s in Scope.__members__]
    return bool(granted) and max(granted) >= SCOPE_ORDER.index(needed)


async def create_api_key(
    session: AsyncSession, *, name: str, scopes: list[Scope] | None = None
) -> tuple[ApiKey, str]:
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        name=name,
        prefix=plaintext[:10],
        key_hash=hash_key(plaintext),
        scopes=[s.value for s in scopes or [Scope.admin]],
    )
    session.add(api_key)
    await session.flush()
    return api_key, plaintext


async def authenticate(session: AsyncSession, *, plaintext: str) -> ApiKey:
    digest = hash_key(plaintext)
    api_key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        raise Unauthorized("The API key is missing, wrong or revoked.")
    if api_key.revoked_at is not None:
        raise Unauthorized("The API key is missing, wrong or revoked.")
    await touch_last_used(session, api_key)
    return api_key


async def touch_last_used(session: AsyncSession, api_key: ApiKey) -> None:
    now = datetime.now(UTC)
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        await session.execute(
            update(ApiKey).where(ApiKey.id == api_key.id).values(last_used_at=now)
        )


async def list_api_keys(session: AsyncSession) -> list[ApiKey]:
    return list(await session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


async def revoke_api_key(session: AsyncSession, *, key_id: UUID) -> ApiKey:
    """Revoked keys stay listed (with when), so an audit can tell what a key could do."""
    api_key = await session.get(ApiKey, key_id)
    if api_key is None:
        raise NotFound(f"No API key {key_id}.", field="key_id")
    api_key.revoked_at = api_key.revoked_at or datetime.now(UTC)
    await session.flush()
    return api_key
