import time
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cadences import windows
from app.cadences.service import require_cadence
from app.config import get_settings
from app.db import OpenSession
from app.errors import Conflict, InvalidField, NotFound
from app.models import Lead, Source
from app.phones import is_known_region, to_e164
from app.sources.schemas import CANONICAL_FIELDS, SourceCreate, SourceUpdate

DEFAULT_PORTS = {"http": 80, "https": 443}
NOT_NULL_FIELDS = (
    "name",
    "default_region",
    "field_map",
    "team",
    "sms_allowed",
    "after_hours_policy",
)


def check_source_fields(values: dict[str, Any], current: Source | None = None) -> dict[str, Any]:
    """Refuse what pydantic cannot judge alone: unknown regions, map keys, caller IDs, origins
    and honeypots that would swallow real leads."""
    region = values.get("default_region")
    if region is not None:
        if not is_known_region(region):
            raise InvalidField(f"'{region}' is not a known region code", field="default_region")
        values["default_region"] = region.upper()
    for key in values.get("field_map") or {}:
        if key not in CANONICAL_FIELDS:
            allowed = ", ".join(CANONICAL_FIELDS)
            raise InvalidField(f"'{key}' cannot be mapped; use one of {allowed}", field="field_map")
    if values.get("caller_id"):
        values["caller_id"] = to_e164(values["caller_id"], region="US", field="caller_id")
    if values.get("allowed_countries"):
        values["allowed_countries"] = checked_countries(values["allowed_countries"])
    if "cors_origins" in values:
        values["cors_origins"] = [normalized_origin(o) for o in values["cors_origins"] or []]
    if values.get("honeypot_field"):
        field_map = values.get("field_map", current.field_map if current else {})
        check_honeypot(values["honeypot_field"], field_map or {})
    check_follow_up_fields(values, current)
    return values


def check_follow_up_fields(values: dict[str, Any], current: Source | None) -> None:
    if values.get("sms_from"):
        region = values.get("default_region") or (current.default_region if current else "US")
        values["sms_from"] = to_e164(values["sms_from"], region=region, field="sms_from")
    if values.get("email_from"):
        values["email_from"] = checked_sender(values["email_from"])
    if "calling_window_start" in values or "calling_window_end" in values:
        check_calling_window(values, current)


def checked_sender(sender: str) -> str:
    """An address, or `Name <address>`; never a line break, which would forge mail headers."""
    _, address = parseaddr(sender)
    local, at, domain = address.rpartition("@")
    if "\r" in sender or "\n" in sender or not (local and at and "." in domain):
        raise InvalidField(
            f"'{sender}' is not a sender like 'Acme <leads@example.com>'", field="email_from"
        )
    return sender.strip()


def check_calling_window(values: dict[str, Any], current: Source | None) -> None:
    """Both ends or neither, start before end: a lead's calling hours never run overnight."""
    start = values.get("calling_window_start", current.calling_window_start if current else None)
    end = values.get("calling_window_end", current.calling_window_end if current else None)
    if (start is None) != (end is None):
        missing = "calling_window_end" if end is None else "calling_window_start"
        raise InvalidField("Set both ends of the calling window, or neither.", field=missing)
    if start is not None and end is not None:
        try:
            windows.parse_window(start, end)
        except ValueError as exc:
            raise InvalidField(f"Calling window: {exc}.", field="calling_window_end") from exc


def checked_countries(regions: list[str]) -> list[str]:
    for region in regions:
        if not is_known_region(region):
            raise InvalidField(f"'{region}' is not a known region code", field="allowed_countries")
    return list(dict.fromkeys(region.upper() for region in regions))


def normalized_origin(origin: str) -> str:
    """As a browser sends it in `Origin`: scheme://host[:port], lower case, no default port."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidField(f"'{origin}' is not an origin: {exc}", field="cors_origins") from exc
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        raise InvalidField(
            f"'{origin}' is not an origin like https://www.example.com", field="cors_origins"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidField(
            f"'{origin}' has a path; an origin is scheme://host[:port]", field="cors_origins"
        )
    keep_port = port is not None and port != DEFAULT_PORTS[parts.scheme]
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if keep_port else "")


def check_honeypot(name: str, field_map: dict[str, str]) -> None:
    """A honeypot named like a real field would silently drop every real lead."""
    if name.lower() in CANONICAL_FIELDS or name in field_map.values():
        raise InvalidField(
            f"'{name}' is a field real leads fill in; name a hidden field", field="honeypot_field"
        )


async def get_source(session: AsyncSession, *, slug: str) -> Source:
    source = await session.scalar(select(Source).where(Source.slug == slug))
    if source is None:
        raise NotFound(f"No source '{slug}'.", field="source")
    return source


# The intake reads its source on every submission. Each API process keeps what it read for
# SOURCE_CACHE_SECONDS: a change made through another process (a new secret, a field map, a
# deletion) reaches it that much later; one made through this process, at once.
cached_sources: dict[str, tuple[float, Source]] = {}


async def get_source_for_intake(open_session: OpenSession, *, slug: str) -> Source:
    """The source, from this process's cache when fresh (no session opened). Detached from
    the session, so the intake's rollback of a duplicate or its commit leave it as read."""
    now, hit = time.monotonic(), cached_sources.get(slug)
    if hit is not None and hit[0] > now:
        return hit[1]
    session = await open_session()
    source = await get_source(session, slug=slug)
    session.expunge(source)
    if (ttl := get_settings().source_cache_seconds) > 0:
        cached_sources[slug] = (now + ttl, source)
    return source


def forget_cached_sources() -> None:
    cached_sources.clear()


async def list_sources(session: AsyncSession) -> list[Source]:
    return list(await session.scalars(select(Source).order_by(Source.slug)))


async def create_source(session: AsyncSession, *, data: SourceCreate) -> Source:
    forget_cached_sources()
    if await session.scalar(select(exists().where(Source.slug == data.slug))):
        raise Conflict(f"A source '{data.slug}' already exists.", field="slug")
    if data.cadence_id is not None:
        await require_cadence(session, cadence_id=data.cadence_id, field="cadence_id")
    source = Source(**check_source_fields(data.model_dump()))
    session.add(source)
    await session.flush()
    await session.refresh(source)
    return source


async def update_source(session: AsyncSession, *, slug: str, data: SourceUpdate) -> Source:
    forget_cached_sources()
    source = await get_source(session, slug=slug)
    values = data.model_dump(exclude_unset=True)
    # null for a column that cannot be empty means "unchanged", as if the field were left out
    values = {k: v for k, v in values.items() if v is not None or k not in NOT_NULL_FIELDS}
    values = check_source_fields(values, current=source)
    if values.get("cadence_id") is not None:
        await require_cadence(session, cadence_id=values["cadence_id"], field="cadence_id")
    change_secret(source, values)
    for key, value in values.items():
        setattr(source, key, value)
    await session.flush()
    await session.refresh(source)
    return source


def change_secret(source: Source, values: dict[str, Any]) -> None:
    """Take the secret and its grace period out of `values` and apply them."""
    asked = values.pop("secret_grace_seconds", None)
    seconds = get_settings().secret_rotation_grace_seconds if asked is None else asked
    if "secret" in values:
        rotate_secret(source, values.pop("secret"), grace=timedelta(seconds=seconds))
    elif asked is not None:
        shorten_grace(source, grace=timedelta(seconds=seconds))


def rotate_secret(source: Source, secret: str | None, *, grace: timedelta) -> None:
    """The replaced secret keeps working for `grace`, so senders can switch without losing a
    lead; only the latest replaced secret is kept. Removing the secret ends both."""
    if secret == source.secret:
        return
    if source.secret and secret and grace > timedelta(0):
        source.previous_secret = source.secret
        source.previous_secret_expires_at = datetime.now(UTC) + grace
    else:
        source.previous_secret = source.previous_secret_expires_at = None
    source.secret = secret


def shorten_grace(source: Source, *, grace: timedelta) -> None:
    if source.previous_secret_expires_at is None:
        return
    until = datetime.now(UTC) + grace
    if grace <= timedelta(0):
        source.previous_secret = source.previous_secret_expires_at = None
    elif until < source.previous_secret_expires_at:
        source.previous_secret_expires_at = until


async def delete_source(session: AsyncSession, *, slug: str) -> None:
    forget_cached_sources()
    source = await get_source(session, slug=slug)
    if await session.scalar(select(exists().where(Lead.source_id == source.id))):
        raise Conflict(f"Source '{slug}' has leads; it cannot be deleted.", field="source")
    await session.delete(source)
    await session.flush()
