from datetime import UTC, datetime, timedelta
from uuid import UUID

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Lead, Source


async def test_create_and_get_a_lead(
    client: AsyncClient, source: Source, api_key: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/leads",
        json={
            "source": "landing",
            "phone": "415 555 0142",
            "first_name": "Ada",
            "fields": {"x": "1"},
        },
        headers=api_key,
    )
    assert created.status_code == 202, created.text
    lead = await client.get(f"/v1/leads/{created.json()['lead_id']}", headers=api_key)
    assert lead.status_code == 200
    body = lead.json()
    assert (body["source"], body["phone"], body["first_name"]) == ("landing", "+14155550142", "Ada")
    assert body["fields"] == {"x": "1"}


async def test_create_lead_errors(
    client: AsyncClient, source: Source, api_key: dict[str, str]
) -> None:
    unknown = await client.post(
        "/v1/leads", json={"source": "nope", "phone": "4155550142"}, headers=api_key
    )
    assert unknown.status_code == 404
    invalid = await client.post(
        "/v1/leads", json={"source": "landing", "phone": "999"}, headers=api_key
    )
    assert invalid.status_code == 422 and invalid.json()["error"]["field"] == "phone"
    missing = await client.post("/v1/leads", json={"source": "landing"}, headers=api_key)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "phone"
    no_key = await client.post("/v1/leads", json={"source": "landing", "phone": "4155550142"})
    assert no_key.status_code == 401
    not_found = await client.get(f"/v1/leads/{UUID(int=0)}", headers=api_key)
    assert not_found.status_code == 404


async def seed_leads(session: AsyncSession, source: Source, count: int) -> list[Lead]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    leads = [
        Lead(
            source_id=source.id,
            phone=f"+1415555{i:04d}",
            phone_raw=str(i),
            status="new" if i % 2 else "connected",
            created_at=start + timedelta(minutes=i),
        )
        for i in range(count)
    ]
    session.add_all(leads)
    await session.flush()
    return leads


async def test_list_pages_through_every_lead_newest_first(
    client: AsyncClient, session: AsyncSession, source: Source, api_key: dict[str, str]
) -> None:
    leads = await seed_leads(session, source, 7)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/leads", params=params, headers=api_key)).json()
        seen += [lead["id"] for lead in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(lead.id) for lead in reversed(leads)]


async def test_list_filters(
    client: AsyncClient, session: AsyncSession, source: Source, api_key: dict[str, str]
) -> None:
    await seed_leads(session, source, 6)
    connected = await client.get("/v1/leads?status=connected", headers=api_key)
    assert {lead["status"] for lead in connected.json()["data"]} == {"connected"}
    assert len(connected.json()["data"]) == 3
    ranged = await client.get(
        "/v1/leads",
        params={"created_after": "2026-01-01T00:02:00Z", "created_before": "2026-01-01T00:04:00Z"},
        headers=api_key,
    )
    assert [lead["phone"] for lead in ranged.json()["data"]] == ["+14155550003", "+14155550002"]
    other = await client.get("/v1/leads?source=other", headers=api_key)
    assert other.json()["data"] == []


async def test_list_refuses_bad_parameters(client: AsyncClient, api_key: dict[str, str]) -> None:
    for params, field in (
        ({"cursor": "garbage"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"status": "asleep"}, "status"),
        ({"created_after": "yesterday"}, "created_after"),
    ):
        response = await client.get("/v1/leads", params=params, headers=api_key)
        assert response.status_code == 422, params
        assert response.json()["error"]["field"] == field


async def test_the_api_refuses_numbers_the_dialer_must_not_call(
    client: AsyncClient, source: Source, api_key: dict[str, str]
) -> None:
    premium = await client.post(
        "/v1/leads", json={"source": "landing", "phone": "+1 900 555 0100"}, headers=api_key
    )
    assert premium.status_code == 422
    assert premium.json()["error"]["code"] == "number_type_not_allowed"
    source.allowed_countries = []
    foreign = await client.post(
        "/v1/leads", json={"source": "landing", "phone": "+44 20 7946 0000"}, headers=api_key
    )
    assert foreign.status_code == 422
    assert foreign.json()["error"]["code"] == "country_not_allowed"
