"""Simultaneous ring: the winner's press never waits on a losing leg busy with its own callback."""

import asyncio
from datetime import UTC, datetime
from uuid import UUID, uuid4

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls import outcomes
from app.models import Attempt, Lead, Rep, Source


async def ring_three(sessions: async_sessionmaker[AsyncSession]) -> list[UUID]:
    """A lead ringing three reps at once, committed, as the dialer leaves it."""
    now, group = datetime.now(UTC), uuid4()
    async with sessions() as session, session.begin():
        source = Source(slug="ring", name="Ring", default_region="US")
        session.add(source)
        await session.flush()
        lead = Lead(
            source_id=source.id,
            phone="+14155550142",
            phone_raw="4155550142",
            status="dialing",
            live_ring_group=group,
        )
        reps = [
            Rep(name=f"Rep {i}", phone=f"+1415555010{i}", call_state="ringing") for i in range(3)
        ]
        session.add_all([lead, *reps])
        await session.flush()
        attempts = [
            Attempt(
                lead_id=lead.id,
                rep_id=rep.id,
                ring_group=group,
                routing="simultaneous",
                status="ringing",
                rep_call_sid=f"CA{i:032d}",
                webhook_received_at=now,
                create_sent_at=now,
                created_at=now,
            )
            for i, rep in enumerate(reps)
        ]
        session.add_all(attempts)
        await session.flush()
        for rep, attempt in zip(reps, attempts, strict=True):
            rep.current_attempt_id = attempt.id
        return [attempt.id for attempt in attempts]


async def test_a_leg_held_by_its_own_callback_is_skipped_not_waited_for(
    live_client: AsyncClient, live_sessions: async_sessionmaker[AsyncSession]
) -> None:
    winner, busy, free = await ring_three(live_sessions)
    async with live_sessions() as holder, holder.begin():
        # The busy leg's callback has it locked and is about to wait for the lead.
        await holder.execute(select(Attempt).where(Attempt.id == busy).with_for_update())
        async with live_sessions() as session, session.begin():
            press = outcomes.rep_choice(session, attempt_id=winner, digits="1")
            bridge, follow = await asyncio.wait_for(press, timeout=5)
        assert bridge is not None and follow.cancel_groups
    async with live_sessions() as session:
        found = {a.id: a.outcome for a in await session.scalars(select(Attempt))}
        lead = await session.scalar(select(Lead))
    assert found == {winner: None, busy: None, free: "canceled"}
    assert lead is not None and lead.accepted_attempt_id == winner
    # The skipped leg is hung up; its last callback finds the race lost: canceled, not a miss.
    async with live_sessions() as session, session.begin():
        params = {"CallSid": f"CA{1:032d}", "CallStatus": "no-answer"}
        await outcomes.rep_status(session, attempt_id=busy, params=params)
    async with live_sessions() as session:
        ended = await session.get(Attempt, busy)
        assert ended is not None and (ended.outcome, ended.status) == ("canceled", "ended")
        rep = await session.get(Rep, ended.rep_id)
        assert rep is not None and (rep.missed_in_row, rep.call_state) == (0, "idle")
