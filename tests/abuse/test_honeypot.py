"""A filled honeypot field is answered like a lead, and nothing is stored or dialed."""

from uuid import UUID

import pytest
from arq.connections import ArqRedis
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Event, Lead, Source

ADA = {"name": "Ada Lovelace", "phone": "(415) 555-0142"}


async def count(session: AsyncSession, model: type[Lead] | type[Event]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def trapped(session: AsyncSession, source: Source) -> Source:
    source.honeypot_field = "website"
    await session.flush()
    return source


async def test_a_filled_honeypot_looks_accepted_but_stores_and_dials_nothing(
    client: AsyncClient, session: AsyncSession, trapped: Source, arq_redis: ArqRedis
) -> None:
    response = await client.post("/hooks/forms/landing", data={**ADA, "website": "http://spam"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "new" and body["duplicate"] is False
    assert await session.get(Lead, UUID(body["lead_id"])) is None
    assert (await count(session, Lead), await count(session, Event)) == (0, 0)
    assert await arq_redis.keys("*") == []  # no dial job, not even a rate-limit count


async def test_an_empty_honeypot_is_a_normal_lead(
    client: AsyncClient, session: AsyncSession, trapped: Source
) -> None:
    response = await client.post("/hooks/forms/landing", json={**ADA, "website": " "})
    assert response.status_code == 202
    assert await session.get(Lead, UUID(response.json()["lead_id"])) is not None
