"""The dial's common case outside a transaction: it does what start_round and record_placed do,
and leaves every other case to them."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.calls import common_round, dialer
from app.db import driver_connection, get_autocommit_pool
from app.models import Attempt, DoNotCall, Lead, Rep, Source, Team, new_id
from tests.calls.conftest import add_due_lead
from tests.conftest import truncate_all


@pytest.fixture
async def due_lead(session: AsyncSession) -> dict[str, Any]:
    return await add_due_lead(session, slug="common-web", team="common-team", numbers="+141555583")


async def fresh(session: AsyncSession, model: Any, id_: Any) -> Any:
    return await session.scalar(
        select(model).where(model.id == id_).execution_options(populate_existing=True)
    )


async def test_the_common_round_claims_the_longest_idle_rep_as_start_round_does(
    session: AsyncSession, due_lead: dict[str, Any]
) -> None:
    lead_id = due_lead["lead"].id
    round_ = await common_round.start_round_quickly(
        await driver_connection(session), lead_id=lead_id
    )
    assert round_ is not None and round_.result == "started" and round_.team == "common-team"
    assert round_.received_at == due_lead["lead"].received_at
    [call] = round_.calls
    rep = await fresh(session, Rep, call.rep_id)
    assert rep.name == "Longest idle" and call.rep_phone == rep.phone
    assert (rep.call_state, rep.current_attempt_id) == ("ringing", call.attempt_id)
    assert rep.claim_expires_at == round_.started_at + dialer.placing_lease()
    attempt = await fresh(session, Attempt, call.attempt_id)
    assert (attempt.status, attempt.rep_id, attempt.lead_id) == ("placing", rep.id, lead_id)
    assert attempt.job_started_at == attempt.create_sent_at == round_.started_at
    assert attempt.routing == "longest_idle"
    lead = await fresh(session, Lead, lead_id)
    assert (lead.status, lead.dial_round, lead.touches) == ("dialing", 1, 1)
    assert lead.live_ring_group == attempt.ring_group and lead.dial_due_at is None
    assert lead.first_call_at == lead.dial_job_started_at == round_.started_at
    # A job that runs twice finds nothing to do, here and in start_round.
    assert (
        await common_round.start_round_quickly(await driver_connection(session), lead_id=lead_id)
        is None
    )
    assert (await dialer.start_round(session, lead_id=lead_id)).result == "not_due"
    assert len(list(await session.scalars(select(Attempt)))) == 1


async def test_simultaneous_ring_claims_the_team_ring_group_and_skips_who_passed(
    session: AsyncSession, due_lead: dict[str, Any]
) -> None:
    session.add(Team(slug="common-team", routing="simultaneous", ring_group_size=3))
    later, longest, away = due_lead["reps"]
    away.availability = "available"
    lead = due_lead["lead"]
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    lead.first_call_at, lead.dial_round, lead.touches = earlier, 1, 1
    session.add(
        Attempt(
            id=new_id(),
            lead_id=lead.id,
            rep_id=longest.id,
            ring_group=new_id(),
            routing="simultaneous",
            status="completed",
            outcome="rep_no_answer",
            webhook_received_at=earlier,
            create_sent_at=earlier,
            created_at=earlier,
            ended_at=earlier,
        )
    )
    await session.flush()
    round_ = await common_round.start_round_quickly(
        await driver_connection(session), lead_id=lead.id
    )
    assert round_ is not None and round_.received_at is None  # observability: first round only
    assert {call.rep_id for call in round_.calls} == {later.id, away.id}
    lead = await fresh(session, Lead, lead.id)
    assert (lead.dial_round, lead.touches, lead.first_call_at) == (2, 3, earlier)


def closed_window_now() -> tuple[str, str]:
    """An hour of calling window that starts two hours from now in San Francisco."""
    start = (datetime.now(ZoneInfo("America/Los_Angeles")).hour + 2) % 24
    return f"{start:02d}:00", "24:00" if start == 23 else f"{start + 1:02d}:00"


async def leave_no_rep_free(session: AsyncSession, due: dict[str, Any]) -> None:
    await session.execute(update(Rep).values(call_state="on_call"))


async def list_the_number(session: AsyncSession, due: dict[str, Any]) -> None:
    session.add(DoNotCall(phone=due["lead"].phone))


async def close_the_window(session: AsyncSession, due: dict[str, Any]) -> None:
    due["source"].calling_window_start, due["source"].calling_window_end = closed_window_now()


async def take_the_lead_off_the_schedule(session: AsyncSession, due: dict[str, Any]) -> None:
    due["lead"].dial_due_at = None


@pytest.mark.parametrize(
    ("case", "decided"),
    [
        (leave_no_rep_free, "waiting"),
        (list_the_number, "do_not_call"),
        (close_the_window, "not_due"),
        (take_the_lead_off_the_schedule, "not_due"),
    ],
)
async def test_every_other_case_is_left_to_start_round_untouched(
    session: AsyncSession, due_lead: dict[str, Any], case: Any, decided: str
) -> None:
    await case(session, due_lead)
    await session.flush()
    lead_id = due_lead["lead"].id
    assert (
        await common_round.start_round_quickly(await driver_connection(session), lead_id=lead_id)
        is None
    )
    assert list(await session.scalars(select(Attempt))) == []
    lead = await fresh(session, Lead, lead_id)
    assert (lead.dial_round, lead.live_ring_group) == (0, None)
    assert {rep.call_state for rep in await session.scalars(select(Rep))} <= {"idle", "on_call"}
    assert (await dialer.start_round(session, lead_id=lead_id)).result == decided


async def test_a_lead_changed_since_it_was_read_is_not_opened(
    session: AsyncSession, due_lead: dict[str, Any]
) -> None:
    """The round opens only on the row that was read and checked (its xmin)."""
    lead_id = due_lead["lead"].id
    await session.commit()  # the read and the change in two transactions (savepoints)
    connection = await driver_connection(session)
    read = await connection.fetchrow(common_round.READ_ROUND, lead_id, list(dialer.REP_PASSES))
    await session.execute(update(Lead).where(Lead.id == lead_id).values(phone="+14155558399"))
    await session.commit()
    connection = await driver_connection(session)
    order = dialer.ROUTING_ORDER["longest_idle"]
    started, team = datetime.now(UTC), "common-team"
    args = [lead_id, read["xmin"], team, [], 1, started, started, [new_id()], new_id()]
    opened = await connection.fetch(
        common_round.OPEN_LOCKED_ROUND_BY_ORDER[order], *args, "longest_idle", started
    )
    assert opened == []
    lead = await fresh(session, Lead, lead_id)
    assert (lead.dial_round, lead.live_ring_group) == (0, None)
    # The same statement with what the row is now opens the round.
    xmin = await connection.fetchval("SELECT xmin FROM leads WHERE id = $1", lead_id)
    args[1] = xmin
    opened = await connection.fetch(
        common_round.OPEN_LOCKED_ROUND_BY_ORDER[order], *args, "longest_idle", started
    )
    assert len(opened) == 1


async def test_a_call_alone_in_its_round_is_recorded_once_and_a_closed_attempt_refuses_it(
    session: AsyncSession, due_lead: dict[str, Any]
) -> None:
    lead = due_lead["lead"]
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    session.add(  # an earlier round's call: the lead's first call stays that one
        Attempt(
            id=new_id(),
            lead_id=lead.id,
            ring_group=new_id(),
            routing="longest_idle",
            status="completed",
            webhook_received_at=earlier,
            create_sent_at=earlier,
            ended_at=earlier,
        )
    )
    await session.flush()
    round_ = await common_round.start_round_quickly(
        await driver_connection(session), lead_id=lead.id
    )
    assert round_ is not None and round_.started_at is not None
    [call] = round_.calls
    sent = round_.started_at + timedelta(milliseconds=5)
    placed = {"queue_time_ms": 7, "retries": 1, "ring_timeout": 20}
    record = common_round.record_placed_alone
    assert await record(
        await driver_connection(session), call=call, sid="CA-first", sent_at=sent, **placed
    )
    attempt = await fresh(session, Attempt, call.attempt_id)
    assert (attempt.rep_call_sid, attempt.status, attempt.create_sent_at) == (
        "CA-first",
        "ringing",
        sent,
    )
    assert (attempt.queue_time_ms, attempt.carrier_retries) == (7, 1)
    rep = await fresh(session, Rep, call.rep_id)
    ringing = timedelta(seconds=20) + dialer.CALLBACK_GRACE
    assert rep.claim_expires_at == attempt.sid_returned_at + ringing
    assert (await fresh(session, Lead, lead.id)).first_call_at == earlier
    # The same SID again (a job run twice) keeps the first; a closed attempt refuses the call.
    assert await record(
        await driver_connection(session), call=call, sid="CA-other", sent_at=sent, **placed
    )
    assert (await fresh(session, Attempt, call.attempt_id)).rep_call_sid == "CA-first"
    await session.execute(
        update(Attempt).where(Attempt.id == call.attempt_id).values(ended_at=datetime.now(UTC))
    )
    assert not await record(
        await driver_connection(session), call=call, sid="CA-late", sent_at=sent, **placed
    )


async def test_the_first_call_of_a_lead_is_its_send_time(
    session: AsyncSession, due_lead: dict[str, Any]
) -> None:
    lead_id = due_lead["lead"].id
    round_ = await common_round.start_round_quickly(
        await driver_connection(session), lead_id=lead_id
    )
    assert round_ is not None and round_.started_at is not None
    sent = round_.started_at + timedelta(milliseconds=40)
    placed = {"queue_time_ms": None, "retries": 0, "ring_timeout": 20}
    [call] = round_.calls
    assert await common_round.record_placed_alone(
        await driver_connection(session), call=call, sid="CA-1", sent_at=sent, **placed
    )
    assert (await fresh(session, Lead, lead_id)).first_call_at == sent


@pytest.fixture
async def committed_lead(engine: AsyncEngine) -> AsyncIterator[dict[str, Any]]:
    """A due lead and a free rep committed, for two connections to contend over."""
    await truncate_all(engine)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        source = Source(slug="common-live", name="Web", team="common-live")
        session.add_all([source, Rep(name="Free", phone="+14155558311", team="common-live")])
        await session.flush()
        lead = Lead(
            source_id=source.id,
            phone="+14155558310",
            phone_raw="4155558310",
            dial_due_at=datetime.now(UTC),
        )
        session.add(lead)
    yield {"sessions": sessions, "lead_id": lead.id}
    await truncate_all(engine)


async def test_a_lead_locked_elsewhere_is_skipped_and_opens_on_the_autocommit_pool_after(
    committed_lead: dict[str, Any],
) -> None:
    sessions, lead_id = committed_lead["sessions"], committed_lead["lead_id"]
    pool = get_autocommit_pool()
    async with sessions() as holder, holder.begin():
        await holder.execute(text("SELECT 1 FROM leads WHERE id = :id FOR UPDATE"), {"id": lead_id})
        async with pool.connection() as connection:
            assert await common_round.start_round_quickly(connection, lead_id=lead_id) is None
    async with pool.connection() as connection:
        round_ = await common_round.start_round_quickly(connection, lead_id=lead_id)
    assert round_ is not None and len(round_.calls) == 1
    async with sessions() as session:
        lead = await session.get(Lead, lead_id)
        assert lead is not None and (lead.status, lead.dial_round) == ("dialing", 1)
