"""Integrator API keys: shown once at creation, stored only as a SHA-256 hash."""

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Unauthorized
from app.models import ApiKey

KEY_PREFIX = "fr_"
# Writing last_used_at on every request would turn every read into a write;
# a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


async def create_api_key(session: AsyncSession, *, name: str) -> tuple[ApiKey, str]:
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(name=name, prefix=plaintext[:10], key_hash=hash_key(plaintext))
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
