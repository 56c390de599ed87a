"""At most PHONE_LEADS_PER_DAY new leads per phone in any 24 hours, across sources."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.models import Lead, Source

ADA = {"name": "Ada Lovelace", "phone": "(415) 555-0142"}


async def add_sources(session: AsyncSession, *slugs: str) -> None:
    session.add_all(Source(slug=slug, name=slug) for slug in slugs)
    await session.flush()


async def leads_of(session: AsyncSession, phone: str) -> int:
    query = select(func.count()).select_from(Lead).where(Lead.phone == phone)
    return int(await session.scalar(query) or 0)


async def test_a_phone_over_its_daily_cap_is_429_naming_the_field(
    client: AsyncClient, session: AsyncSession, settings: Callable[..., Settings]
) -> None:
    settings(phone_leads_per_day=2)
    await add_sources(session, "one", "two", "three")
    assert (await client.post("/hooks/forms/one", json=ADA)).status_code == 202
    assert (await client.post("/hooks/forms/two", json=ADA)).status_code == 202
    response = await client.post("/hooks/forms/three", json={"mobile": "+1 415 555 0142"})
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("phone_cap", "mobile")
    assert "+14155550142" in error["message"]
    assert 86_000 < int(response.headers["Retry-After"]) <= 86_400
    assert await leads_of(session, "+14155550142") == 2
    other = await client.post("/hooks/forms/three", json={**ADA, "phone": "415-555-0143"})
    assert other.status_code == 202


async def test_a_repeat_of_an_accepted_submission_still_gets_its_lead(
    client: AsyncClient, session: AsyncSession, source: Source, settings: Callable[..., Settings]
) -> None:
    settings(phone_leads_per_day=1)
    first = await client.post("/hooks/forms/landing", json=ADA, headers={"Idempotency-Key": "k1"})
    again = await client.post("/hooks/forms/landing", json=ADA, headers={"Idempotency-Key": "k1"})
    assert again.status_code == 202
    assert again.json() == {**first.json(), "duplicate": True}


async def test_leads_older_than_a_day_do_not_count(
    client: AsyncClient, session: AsyncSession, source: Source, settings: Callable[..., Settings]
) -> None:
    settings(phone_leads_per_day=1)
    old = datetime.now(UTC) - timedelta(hours=25)
    session.add(Lead(source_id=source.id, phone="+14155550142", phone_raw="x", created_at=old))
    await session.flush()
    assert (await client.post("/hooks/forms/landing", json=ADA)).status_code == 202


async def test_the_cap_holds_while_redis_is_down(
    client: AsyncClient, session: AsyncSession, source: Source, settings: Callable[..., Settings]
) -> None:
    from app.main import app
    from app.queue import close_arq, make_arq

    settings(phone_leads_per_day=1)
    session.add(Lead(source_id=source.id, phone="+14155550142", phone_raw="x"))
    await session.flush()
    app.state.arq = make_arq("redis://127.0.0.1:1")  # nothing listens on port 1
    try:
        response = await client.post("/hooks/forms/landing", json=ADA)
    finally:
        await close_arq(app.state.arq)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "phone_cap"
