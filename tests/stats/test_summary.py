"""The call summary on leads, as the dialer keeps it, always equals what the attempts say.

Each step drives the dialer's own functions in the test's transaction, then checks the lead's
summary against `summary.rebuild` (the same aggregates computed from the attempts), and its
outcome counts (lead_outcomes, kept by triggers) against the attempts counted by outcome.
"""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls import dialer, outcomes
from app.db import driver_connection
from app.models import Attempt, Lead, LeadOutcomes, Rep, Source, Team
from app.stats import summary
from app.stats.service import IN_PROGRESS, OUTCOMES

Summary = tuple[datetime | None, datetime | None, datetime | None, int]


async def summary_of(session: AsyncSession, lead_id: UUID) -> Summary:
    columns = (Lead.first_call_at, Lead.first_rep_answered_at, Lead.connected_at, Lead.touches)
    row = (await session.execute(select(*columns).where(Lead.id == lead_id))).one()
    return row[0], row[1], row[2], row[3]


async def outcomes_of(session: AsyncSession, lead_id: UUID) -> dict[str, int]:
    """The lead's attempts by outcome, as lead_outcomes has them (only the non-zero ones)."""
    row = await session.get(LeadOutcomes, lead_id, populate_existing=True)
    assert row is not None
    return {name: getattr(row, name) for name in OUTCOMES if getattr(row, name)}


async def counted(session: AsyncSession, lead_id: UUID) -> dict[str, int]:
    """The same, counted from the attempts."""
    query = select(Attempt.outcome, func.count()).where(Attempt.lead_id == lead_id)
    rows = await session.execute(query.group_by(Attempt.outcome))
    return {outcome or IN_PROGRESS: n for outcome, n in rows}


async def kept(session: AsyncSession, lead_id: UUID) -> Summary:
    """The lead's summary, after checking that rebuilding it from the attempts changes nothing
    and that its outcome counts are the attempts'."""
    found = await summary_of(session, lead_id)
    await summary.rebuild(session)
    assert await summary_of(session, lead_id) == found
    await session.flush()
    assert await outcomes_of(session, lead_id) == await counted(session, lead_id)
    return found


@pytest.fixture
async def team(session: AsyncSession) -> dict[str, Any]:
    source = Source(slug="summary-web", name="Web", team="summary-team")
    reps = [Rep(name=f"Rep {n}", phone=f"+1415555800{n}", team="summary-team") for n in (1, 2, 3)]
    session.add_all([source, *reps])
    await session.flush()
    lead = Lead(
        source_id=source.id,
        phone="+14155558100",
        phone_raw="4155558100",
        dial_due_at=datetime.now(UTC),
    )
    session.add(lead)
    await session.flush()
    return {"lead": lead, "reps": reps}


async def placed(session: AsyncSession, call: dialer.RepCall, sent_at: datetime) -> None:
    stored = await dialer.record_placed(
        session,
        call=call,
        sid=f"CA{call.attempt_id.hex}",
        sent_at=sent_at,
        queue_time_ms=None,
        retries=0,
        ring_timeout=20,
    )
    assert stored


async def test_connected_then_found_to_be_a_machine(
    session: AsyncSession, team: dict[str, Any]
) -> None:
    lead_id = team["lead"].id
    round_ = await dialer.start_round(session, lead_id=lead_id)
    assert round_.result == "started" and round_.started_at is not None
    claimed = round_.started_at
    assert await kept(session, lead_id) == (claimed, None, None, 1)

    call = round_.calls[0]
    await placed(session, call, claimed + timedelta(seconds=2))
    first_call, *_ = await kept(session, lead_id)
    assert first_call == claimed + timedelta(seconds=2)  # the send, no longer the claim

    rep_sid = f"CA{call.attempt_id.hex}"
    params = {"CallSid": rep_sid, "CallStatus": "in-progress"}
    await outcomes.rep_status(session, attempt_id=call.attempt_id, params=params)
    _, rep_answered, connected, _ = await kept(session, lead_id)
    assert rep_answered is not None and connected is None

    # The <Dial> result before the lead leg's answer: a connection without its time yet.
    dial = {"DialCallStatus": "completed", "DialCallSid": "CA-lead", "DialCallDuration": "30"}
    connection = await driver_connection(session)
    await outcomes.dial_result(connection, attempt_id=call.attempt_id, params=dial)
    assert (await kept(session, lead_id))[2] is None
    answered = {"CallSid": "CA-lead", "CallStatus": "in-progress"}
    await outcomes.lead_status(session, attempt_id=call.attempt_id, params=answered)
    assert (await kept(session, lead_id))[2] is not None

    machine = {"CallSid": "CA-lead", "CallStatus": "completed", "AnsweredBy": "machine_start"}
    await outcomes.lead_status(session, attempt_id=call.attempt_id, params=machine)
    assert await kept(session, lead_id) == (first_call, rep_answered, None, 1)


async def test_a_ring_group_and_a_second_round(session: AsyncSession, team: dict[str, Any]) -> None:
    session.add(Team(slug="summary-team", routing="simultaneous", ring_group_size=2))
    lead_id = team["lead"].id
    round_ = await dialer.start_round(session, lead_id=lead_id)
    assert round_.started_at is not None and len(round_.calls) == 2
    claimed = round_.started_at
    first, second = round_.calls
    await placed(session, first, claimed + timedelta(seconds=1))
    assert (await kept(session, lead_id))[0] == claimed  # the second is still only claimed
    await placed(session, second, claimed + timedelta(seconds=3))
    assert (await kept(session, lead_id))[0] == claimed + timedelta(seconds=1)

    for call in round_.calls:  # neither rep answers: the third rep gets the lead
        params = {"CallSid": f"CA{call.attempt_id.hex}", "CallStatus": "no-answer"}
        await outcomes.rep_status(session, attempt_id=call.attempt_id, params=params)
    next_round = await dialer.start_round(session, lead_id=lead_id)
    assert next_round.started_at is not None and len(next_round.calls) == 1
    # (The test's sends are in its future: the new claim may well be the earliest.)
    earliest = min(claimed + timedelta(seconds=1), next_round.started_at)
    assert await kept(session, lead_id) == (earliest, None, None, 3)
