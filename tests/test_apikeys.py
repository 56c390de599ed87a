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


async def test_scopes_limit_what_a_key_can_do(client: AsyncClient, session: AsyncSession) -> None:
    from app.apikeys.service import Scope

    _, reader = await create_api_key(session, name="dashboard", scopes=[Scope.read])
    _, writer = await create_api_key(session, name="crm", scopes=[Scope.write])
    read_only = {"Authorization": f"Bearer {reader}"}
    read_write = {"Authorization": f"Bearer {writer}"}
    assert (await client.get("/v1/reps", headers=read_only)).status_code == 200
    refused = await client.post(
        "/v1/reps", json={"name": "X", "phone": "4155550101"}, headers=read_only
    )
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "scope"
    made = await client.post(
        "/v1/reps", json={"name": "X", "phone": "4155550101"}, headers=read_write
    )
    assert made.status_code == 201
    assert (await client.get("/v1/api-keys", headers=read_write)).status_code == 403
    assert (await client.get("/v1/webhook-endpoints", headers=read_write)).status_code == 403


async def test_keys_are_created_listed_and_revoked_through_the_api(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/api-keys", json={"name": "zapier", "scopes": ["write"]}, headers=api_key
    )
    assert created.status_code == 201, created.text
    new = created.json()
    assert new["key"].startswith(new["prefix"]) and new["scopes"] == ["write"]
    mine = {"Authorization": f"Bearer {new['key']}"}
    assert (await client.get("/v1/leads", headers=mine)).status_code == 200
    listed = await client.get("/v1/api-keys", headers=api_key)
    assert all("key" not in k for k in listed.json()["data"])
    revoked = await client.delete(f"/v1/api-keys/{new['id']}", headers=api_key)
    assert revoked.json()["revoked_at"] is not None
    assert (await client.get("/v1/leads", headers=mine)).status_code == 401
    bad = await client.post("/v1/api-keys", json={"name": "x", "scopes": ["root"]}, headers=api_key)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "scopes.0"
    unknown = await client.delete(f"/v1/api-keys/{new['prefix']}", headers=api_key)
    assert unknown.status_code == 422
