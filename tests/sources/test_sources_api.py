from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Lead, Source

NEW_SOURCE = {
    "slug": "spring-promo",
    "name": "Spring promo",
    "default_region": "gb",
    "secret": "a-long-enough-secret",
    "field_map": {"phone": "Mobile"},
    "team": "uk-sales",
    "caller_id": "+44 20 7946 0000",
}


async def test_create_read_update_delete_a_source(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    created = await client.post("/v1/sources", json=NEW_SOURCE, headers=api_key)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["default_region"] == "GB" and body["has_secret"] is True
    assert body["caller_id"] == "+442079460000" and "secret" not in body
    listed = await client.get("/v1/sources", headers=api_key)
    assert [s["slug"] for s in listed.json()["data"]] == ["spring-promo"]
    updated = await client.patch(
        "/v1/sources/spring-promo", json={"name": "Spring 2", "field_map": {}}, headers=api_key
    )
    assert updated.json()["name"] == "Spring 2" and updated.json()["field_map"] == {}
    assert updated.json()["team"] == "uk-sales"
    deleted = await client.delete("/v1/sources/spring-promo", headers=api_key)
    assert deleted.status_code == 204
    missing = await client.get("/v1/sources/spring-promo", headers=api_key)
    assert missing.status_code == 404


async def test_duplicate_slug_is_409(client: AsyncClient, api_key: dict[str, str]) -> None:
    await client.post("/v1/sources", json=NEW_SOURCE, headers=api_key)
    again = await client.post("/v1/sources", json=NEW_SOURCE, headers=api_key)
    assert again.status_code == 409
    assert again.json()["error"]["field"] == "slug"


async def test_bad_fields_are_422_naming_them(client: AsyncClient, api_key: dict[str, str]) -> None:
    cases = [
        ({"default_region": "XX"}, "default_region"),
        ({"field_map": {"favourite_colour": "x"}}, "field_map"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"caller_id": "12"}, "caller_id"),
    ]
    for change, field in cases:
        response = await client.post("/v1/sources", json={**NEW_SOURCE, **change}, headers=api_key)
        assert response.status_code == 422, (change, response.text)
        assert response.json()["error"]["field"] == field
    listed = await client.get("/v1/sources", headers=api_key)
    assert listed.json()["data"] == []


async def test_a_source_with_leads_cannot_be_deleted(
    client: AsyncClient, session: AsyncSession, source: Source, api_key: dict[str, str]
) -> None:
    session.add(Lead(source_id=source.id, phone="+14155550142", phone_raw="4155550142"))
    await session.flush()
    response = await client.delete("/v1/sources/landing", headers=api_key)
    assert response.status_code == 409


async def test_sources_need_an_api_key(client: AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer fr_wrong"}, {"Authorization": "Basic abc"}):
        response = await client.get("/v1/sources", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
