from datetime import UTC, datetime

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.apikeys.service import create_api_key, hash_key
from app.models import ApiKey


async def test_only_a_hash_is_stored_and_use_is_recorded(
    client: AsyncClient, session: AsyncSession
) -> None:
    api_key, plaintext = await create_api_key(session, name="crm")
    assert api_key.key_hash == hash_key(plaintext) and plaintext not in api_key.key_hash
    response = await client.get("/v1/sources", headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 200
    await session.refresh(api_key)
    assert api_key.last_used_at is not None


async def test_a_revoked_key_is_refused(client: AsyncClient, session: AsyncSession) -> None:
    api_key, plaintext = await create_api_key(session, name="old")
    api_key.revoked_at = datetime.now(UTC)
    await session.flush()
    response = await client.get("/v1/sources", headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 401


async def test_cli_key_is_stored_hashed(
    database_url: str, live_sessions: async_sessionmaker[AsyncSession]
) -> None:
    from app.dev import create_key

    plaintext = await create_key(database_url, "from-cli")
    assert plaintext.startswith("fr_")
    async with live_sessions() as session, session.begin():
        stored = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plaintext)))
        assert stored is not None and stored.name == "from-cli"
        await session.delete(stored)
