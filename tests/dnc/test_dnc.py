"""The do-not-call list: managed through the API, imported from CSV, checked before every dial."""

from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls.dialer import start_round
from app.models import Attempt, Event, Lead, Rep, Source


async def test_numbers_are_listed_read_and_removed(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    added = await client.post(
        "/v1/dnc", json={"phone": "(415) 555-0142", "reason": "asked by phone"}, headers=api_key
    )
    assert added.status_code == 201, added.text
    assert added.json()["phone"] == "+14155550142"
    again = await client.post("/v1/dnc", json={"phone": "+14155550142"}, headers=api_key)
    assert again.status_code == 201 and again.json()["reason"] == "asked by phone"
    found = await client.get("/v1/dnc/4155550142", headers=api_key)
    assert found.json()["added_by"] == "api"
    assert (await client.delete("/v1/dnc/+14155550142", headers=api_key)).status_code == 204
    assert (await client.get("/v1/dnc/+14155550142", headers=api_key)).status_code == 404
    assert (await client.delete("/v1/dnc/+14155550142", headers=api_key)).status_code == 404
    bad = await client.post("/v1/dnc", json={"phone": "12"}, headers=api_key)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "phone"


async def test_csv_import_reports_every_line(client: AsyncClient, api_key: dict[str, str]) -> None:
    csv = "phone,reason\n415-555-0142,complaint\n+44 20 7946 0000\nnot a number\n4155550142\n"
    response = await client.post(
        "/v1/dnc/import", content=csv.encode(), headers={**api_key, "Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["added"], result["already_listed"]) == (2, 1)
    assert [r["line"] for r in result["rejected"]] == ["3"]
    listed = await client.get("/v1/dnc?limit=1", headers=api_key)
    first = listed.json()
    assert [e["phone"] for e in first["data"]] == ["+14155550142"]
    rest = await client.get(
        "/v1/dnc", params={"limit": 1, "cursor": first["next_cursor"]}, headers=api_key
    )
    assert [e["phone"] for e in rest.json()["data"]] == ["+442079460000"]
    not_utf8 = await client.post("/v1/dnc/import", content=b"\xff\xfe", headers=api_key)
    assert not_utf8.status_code == 400


async def test_a_listed_number_is_never_dialed(
    live_client: AsyncClient, live_sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with live_sessions() as session, session.begin():
        source = Source(slug="dnc", name="DNC")
        session.add_all([source, Rep(name="R", phone="+14155550101")])
        await session.flush()
        lead = Lead(
            source_id=source.id, phone="+14155550142", phone_raw="x", dial_due_at=datetime.now(UTC)
        )
        session.add(lead)
    from app.dnc.service import add

    async with live_sessions() as session, session.begin():
        await add(session, phone="+14155550142", reason="test")
    async with live_sessions() as session, session.begin():
        decided: Any = await start_round(session, lead_id=lead.id)
    assert decided.result == "do_not_call" and decided.calls == []
    async with live_sessions() as session:
        stored = await session.get(Lead, lead.id)
        assert stored is not None and stored.status == "do_not_call" and stored.dial_due_at is None
        assert list(await session.scalars(select(Attempt))) == []
        events = list(await session.scalars(select(Event.type)))
        assert events == ["lead.opted_out"]
