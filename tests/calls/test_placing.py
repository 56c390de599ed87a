"""Opening a round and recording a placed call, as the dial job does, in the test's transaction."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls import dialer
from app.models import Attempt, Lead, Rep
from tests.calls.conftest import add_due_lead


@pytest.fixture
async def due_lead(session: AsyncSession) -> dict[str, Any]:
    return await add_due_lead(
        session, slug="placing-web", team="placing-team", numbers="+141555582"
    )


async def test_a_round_claims_the_longest_idle_rep_and_hands_the_lead_to_it(
    session: AsyncSession, due_lead: dict[str, Any]
) -> None:
    lead_id = due_lead["lead"].id
    round_ = await dialer.start_round(session, lead_id=lead_id)
    assert round_.result == "started" and round_.received_at is not None
    [call] = round_.calls
    rep = await session.scalar(select(Rep).where(Rep.id == call.rep_id))
    assert rep is not None and rep.name == "Longest idle"
    assert (rep.call_state, rep.current_attempt_id) == ("ringing", call.attempt_id)
    assert rep.claim_expires_at == round_.started_at + dialer.placing_lease()
    attempt = await session.get(Attempt, call.attempt_id)
    assert attempt is not None and (attempt.status, attempt.rep_id) == ("placing", rep.id)
    assert attempt.job_started_at == attempt.create_sent_at == round_.started_at
    lead = await session.scalar(select(Lead).where(Lead.id == lead_id))
    assert lead is not None
    assert (lead.status, lead.dial_round, lead.touches) == ("dialing", 1, 1)
    assert lead.live_ring_group == attempt.ring_group and lead.dial_due_at is None
    assert lead.first_call_at == lead.dial_job_started_at == round_.started_at
    again = await dialer.start_round(session, lead_id=lead_id)  # a job that runs twice
    assert again.result == "not_due" and again.calls == []


async def test_no_free_rep_leaves_the_lead_waiting_and_claims_nobody(
    session: AsyncSession, due_lead: dict[str, Any]
) -> None:
    for rep in due_lead["reps"]:
        rep.call_state = "on_call"
    await session.flush()
    round_ = await dialer.start_round(session, lead_id=due_lead["lead"].id)
    assert round_.result == "waiting" and round_.calls == []
    lead = await session.get(Lead, due_lead["lead"].id)
    assert lead is not None and lead.status == "waiting" and lead.dial_due_at is not None
    assert list(await session.scalars(select(Attempt))) == []


async def test_a_placed_call_is_recorded_once_and_a_closed_attempt_refuses_it(
    session: AsyncSession, due_lead: dict[str, Any]
) -> None:
    round_ = await dialer.start_round(session, lead_id=due_lead["lead"].id)
    [call] = round_.calls
    assert round_.started_at is not None
    sent = round_.started_at + timedelta(milliseconds=5)
    placed = {"queue_time_ms": 7, "retries": 1, "ring_timeout": 20}
    assert await dialer.record_placed(session, call=call, sid="CA-first", sent_at=sent, **placed)
    attempt = await session.scalar(
        select(Attempt)
        .where(Attempt.id == call.attempt_id)
        .execution_options(populate_existing=True)
    )
    assert attempt is not None and attempt.sid_returned_at is not None
    assert (attempt.rep_call_sid, attempt.status, attempt.create_sent_at) == (
        "CA-first",
        "ringing",
        sent,
    )
    assert (attempt.queue_time_ms, attempt.carrier_retries) == (7, 1)
    rep = await session.scalar(
        select(Rep).where(Rep.id == call.rep_id).execution_options(populate_existing=True)
    )
    assert rep is not None and rep.claim_expires_at is not None
    ringing = timedelta(seconds=20) + dialer.CALLBACK_GRACE
    assert rep.claim_expires_at == attempt.sid_returned_at + ringing
    lead = await session.scalar(
        select(Lead)
        .where(Lead.id == call.rep_id.__class__(str(due_lead["lead"].id)))
        .execution_options(populate_existing=True)
    )
    assert lead is not None and lead.first_call_at == sent
    # The same SID again (a job run twice) keeps the first; a closed attempt refuses the call.
    assert await dialer.record_placed(session, call=call, sid="CA-other", sent_at=sent, **placed)
    await session.refresh(attempt)
    assert attempt.rep_call_sid == "CA-first"
    attempt.ended_at = datetime.now(UTC)
    await session.flush()
    assert not await dialer.record_placed(session, call=call, sid="CA-late", sent_at=sent, **placed)
