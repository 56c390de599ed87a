"""lead_outcomes, kept by triggers on attempts, counts each lead's attempts by outcome."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.schemas import Outcome
from app.models import Attempt, Lead, LeadOutcomes, Source
from app.stats.service import IN_PROGRESS, OUTCOMES

RECEIVED = datetime(2026, 2, 1, 9, tzinfo=UTC)


@pytest.fixture
async def leads(session: AsyncSession) -> list[Lead]:
    source = Source(slug="outcomes-web", name="Web", team="outcomes-team")
    session.add(source)
    await session.flush()
    found = [
        Lead(source_id=source.id, phone=p, phone_raw=p, received_at=RECEIVED + timedelta(hours=n))
        for n, p in enumerate(("+14155557001", "+14155557002"))
    ]
    session.add_all(found)
    await session.flush()
    return found


def attempt(lead: Lead, outcome: str | None) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "lead_id": lead.id,
        "ring_group": uuid.uuid4(),
        "routing": "longest_idle",
        "outcome": outcome,
        "webhook_received_at": lead.received_at,
    }


async def counts(session: AsyncSession, lead: Lead) -> dict[str, int] | None:
    """The lead's row as the triggers left it: its non-zero counts, None without a row."""
    row = (
        await session.execute(select(LeadOutcomes).where(LeadOutcomes.lead_id == lead.id))
    ).scalar_one_or_none()
    if row is None:
        return None
    await session.refresh(row)
    assert (row.received_at, row.source_id) == (lead.received_at, lead.source_id)
    return {name: getattr(row, name) for name in OUTCOMES if getattr(row, name)}


async def test_one_statement_inserting_many_attempts(
    session: AsyncSession, leads: list[Lead]
) -> None:
    first, second = leads
    rows = [attempt(first, None), attempt(first, "connected"), attempt(first, "connected")]
    await session.execute(insert(Attempt), [*rows, attempt(second, "failed")])
    assert await counts(session, first) == {"connected": 2, IN_PROGRESS: 1}
    assert await counts(session, second) == {"failed": 1}
    await session.execute(insert(Attempt), [attempt(second, "failed"), attempt(second, None)])
    assert await counts(session, second) == {"failed": 2, IN_PROGRESS: 1}


async def test_outcomes_changing(session: AsyncSession, leads: list[Lead]) -> None:
    lead = leads[0]
    rows = [attempt(lead, None), attempt(lead, None), attempt(lead, None)]
    await session.execute(insert(Attempt), rows)
    ids = [row["id"] for row in rows]
    await session.execute(
        update(Attempt).where(Attempt.id.in_(ids[:2])).values(outcome=Outcome.connected)
    )
    assert await counts(session, lead) == {"connected": 2, IN_PROGRESS: 1}
    # Machine detection turns a connection into a voicemail; setting the same value is no change.
    await session.execute(
        update(Attempt).where(Attempt.id == ids[0]).values(outcome="lead_voicemail")
    )
    await session.execute(update(Attempt).where(Attempt.id == ids[1]).values(outcome="connected"))
    await session.execute(update(Attempt).where(Attempt.id == ids[2]).values(status="ringing"))
    assert await counts(session, lead) == {"connected": 1, "lead_voicemail": 1, IN_PROGRESS: 1}


async def test_attempts_and_leads_deleted(session: AsyncSession, leads: list[Lead]) -> None:
    first, second = leads
    rows = [attempt(first, "failed"), attempt(first, None), attempt(second, "canceled")]
    await session.execute(insert(Attempt), rows)
    await session.execute(delete(Attempt).where(Attempt.id == rows[0]["id"]))
    assert await counts(session, first) == {IN_PROGRESS: 1}
    await session.execute(delete(Lead).where(Lead.id == second.id))
    left = await session.scalar(
        select(func.count()).select_from(LeadOutcomes).where(LeadOutcomes.lead_id == second.id)
    )
    assert left == 0


async def test_attempts_truncated(session: AsyncSession, leads: list[Lead]) -> None:
    await session.execute(insert(Attempt), [attempt(leads[0], "connected")])
    await session.execute(text("TRUNCATE attempts CASCADE"))
    assert await counts(session, leads[0]) is None


def test_a_column_for_every_outcome() -> None:
    columns = set(LeadOutcomes.__table__.columns.keys())
    assert {*(o.value for o in Outcome), IN_PROGRESS} <= columns
