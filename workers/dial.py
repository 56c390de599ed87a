"""Dial jobs: offer leads to reps, hand them on, and sweep up what Redis lost."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.calls import common_round, dialer, outcomes
from app.calls.limiter import wait_for_call_slot
from app.config import Settings
from app.db import driver_connection, get_autocommit_pool
from app.models import Attempt, Lead, Source
from app.observability import logs, metrics  # observability
from app.queue import (
    enqueue_dial,
    enqueue_dial_waiting,
    enqueue_webhook_delivery,
    wake_after_commit,
)

log = logging.getLogger(__name__)

SWEEP_BATCH = 500
# A live call silent this long past its ring time is looked up at the carrier.
RECONCILE_AFTER = timedelta(seconds=10)


def sessions(ctx: dict[str, Any]) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = ctx["sessionmaker"]
    return maker


def settings_of(ctx: dict[str, Any]) -> Settings:
    settings: Settings = ctx["settings"]
    return settings


async def dial_lead(ctx: dict[str, Any], lead_id: str) -> str:
    """Offer the lead to the next free rep(s) and ring them. Safe to run twice."""
    logs.bind(lead=lead_id)  # observability
    claim_started = metrics.clock()  # observability
    async with statement_connection(ctx) as connection:
        round_ = await common_round.start_round_quickly(connection, lead_id=UUID(lead_id))
    if round_ is not None:
        slots = call_slots(ctx, round_)
    else:  # any case but the common one
        async with sessions(ctx)() as session, session.begin():
            round_ = await dialer.start_round(session, lead_id=UUID(lead_id))
            slots = call_slots(ctx, round_)
        await wake_after_commit(ctx["redis"], session)
    metrics.observe_round(round_.received_at, round_.started_at, claim_started)  # observability
    await place_round(ctx, round_, slots)
    return round_.result


@asynccontextmanager
async def statement_connection(ctx: dict[str, Any]) -> AsyncIterator[asyncpg.Connection]:
    """Where the dial's one-statement writes run: a connection of the autocommit pool, with no
    session at all; when the jobs' sessions are bound to a connection (the tests' rolled-back
    transaction), that connection, committed as the pool's statements commit by themselves."""
    maker = sessions(ctx)
    if isinstance(maker.kw.get("bind"), AsyncEngine):
        async with get_autocommit_pool().connection() as connection:
            yield connection
        return
    async with maker() as session, session.begin():
        yield await driver_connection(session)


def call_slots(ctx: dict[str, Any], round_: dialer.Round) -> list[asyncio.Task[float]]:
    """The limiter's slots for the round's calls, asked for before the round commits so the
    round trip to Redis runs alongside the commit's. A commit that fails leaves its slots
    unused: a gap in the pacing, nothing more."""
    cps = settings_of(ctx).twilio_calls_per_second
    return [asyncio.create_task(wait_for_call_slot(ctx["redis"], cps)) for _ in round_.calls]


async def place_round(
    ctx: dict[str, Any], round_: dialer.Round, slots: list[asyncio.Task[float]]
) -> None:
    if round_.result == "started":
        calls = zip(round_.calls, slots, strict=True)
        await asyncio.gather(*(place(ctx, call, round_, slot) for call, slot in calls))


async def place(
    ctx: dict[str, Any], call: dialer.RepCall, round_: dialer.Round, slot: Awaitable[float]
) -> None:
    settings = settings_of(ctx)
    assert round_.started_at is not None
    logs.bind(attempt=call.attempt_id)  # observability
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.dial_budget_seconds
    await slot  # the calls-per-second limiter's
    # At DEBUG, the number rung (masked, as every logged number is): the common round reads it
    # outside SQLAlchemy, whose DEBUG rows used to show it.
    log.debug("calling rep %s for attempt %s", call.rep_phone, call.attempt_id)
    sent_at = dialer.now()
    try:
        created, retries = await dialer.create_rep_call(
            ctx["twilio"], settings=settings, call=call, deadline=deadline
        )
    except dialer.CarrierUnsure as unsure:
        metrics.count_carrier_error("unsure", unsure.retries)  # observability
        log.warning("calls.create for attempt %s unanswered: %s", call.attempt_id, unsure)
        return
    except dialer.CarrierFailure as failure:
        metrics.count_carrier_error("refused", failure.retries)  # observability
        await carrier_failed(ctx, call, failure)
        return
    metrics.observe_created(sent_at, retries)  # observability: round trip and retries
    placed = {
        "call": call,
        "sid": created.sid,
        "sent_at": sent_at,
        "queue_time_ms": queue_time_ms(created),
        "retries": retries,
        "ring_timeout": settings.rep_ring_timeout_seconds,
    }
    if len(round_.calls) == 1:  # every routing but simultaneous ring: one statement
        async with statement_connection(ctx) as connection:
            stored = await common_round.record_placed_alone(connection, **placed)
    else:
        async with sessions(ctx)() as session, session.begin():
            stored = await dialer.record_placed(session, **placed)
    if stored:  # observability
        metrics.observe_speed_to_lead(round_.lead_id, round_.received_at, sent_at)
    if not stored:
        log.warning("attempt %s closed before its call was placed; hanging up", call.attempt_id)
        await hang_up(ctx, created.sid, answered=False)


def queue_time_ms(created: Any) -> int | None:
    value = getattr(created, "queue_time", None)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


async def carrier_failed(ctx: dict[str, Any], call: dialer.RepCall, failure: Exception) -> None:
    log.warning("call to rep for attempt %s failed: %s", call.attempt_id, failure)
    async with sessions(ctx)() as session, session.begin():
        follow = await outcomes.fail_attempt(
            session,
            attempt_id=call.attempt_id,
            error=str(failure)[:500],
            retry_after=dialer.CARRIER_RETRY_AFTER,
        )
        await session.execute(
            update(Attempt)
            .where(Attempt.id == call.attempt_id)
            .values(carrier_retries=getattr(failure, "retries", 0))
        )
    await outcomes.enqueue_follow_ups(ctx["redis"], follow)
    await wake_after_commit(ctx["redis"], session)


async def oldest_waiting_lead(session: AsyncSession, team: str) -> UUID | None:
    return await session.scalar(
        select(Lead.id)
        .join(Source, Source.id == Lead.source_id)
        .where(
            Source.team == team,
            Lead.dial_due_at <= datetime.now(UTC),
            Lead.live_ring_group.is_(None),
        )
        .order_by(Lead.dial_due_at, Lead.received_at)
        .limit(1)
        .with_for_update(of=Lead, skip_locked=True)
    )


async def dial_waiting(ctx: dict[str, Any], team: str) -> int:
    """A rep of `team` is free: dial waiting leads, oldest first, while reps stay free."""
    dialed = 0
    while True:
        claim_started = metrics.clock()  # observability
        async with sessions(ctx)() as session, session.begin():
            lead_id = await oldest_waiting_lead(session, team)
            if lead_id is None:
                return dialed
            logs.bind(lead=lead_id)  # observability
            round_ = await dialer.start_round(session, lead_id=lead_id)
            slots = call_slots(ctx, round_)
        metrics.observe_round(round_.received_at, round_.started_at, claim_started)  # observability
        if round_.result in ("not_due", "do_not_call"):  # moved to its window, or refused
            continue
        if round_.result != "started":
            return dialed
        dialed += 1
        await place_round(ctx, round_, slots)


async def cancel_ring_group(ctx: dict[str, Any], ring_group: str, winner: str) -> int:
    """Simultaneous ring: someone pressed 1, so hang up every other rep's phone now."""
    async with sessions(ctx)() as session:
        losers = list(
            await session.scalars(
                select(Attempt).where(
                    Attempt.ring_group == UUID(ring_group),
                    Attempt.id != UUID(winner),
                    Attempt.ended_at.is_(None),
                    Attempt.rep_call_sid.is_not(None),
                )
            )
        )
    for attempt in losers:
        assert attempt.rep_call_sid is not None
        await hang_up(ctx, attempt.rep_call_sid, answered=attempt.rep_answered_at is not None)
    return len(losers)


async def hang_up(ctx: dict[str, Any], call_sid: str, *, answered: bool) -> None:
    """Twilio cancels a call that is still ringing and completes one that was answered."""
    try:
        await (
            ctx["twilio"]
            .calls(call_sid)
            .update_async(status="completed" if answered else "canceled")
        )
    except Exception as exc:  # the call may have ended on its own meanwhile
        log.info("could not end call %s: %s", call_sid, exc)


async def reconcile_silent_calls(ctx: dict[str, Any]) -> int:
    """Ask the carrier how calls we stopped hearing about ended, and close them with that."""
    ring = timedelta(seconds=settings_of(ctx).rep_ring_timeout_seconds)
    async with sessions(ctx)() as session:
        silent = await outcomes.silent_live_calls(
            session, older_than=ring + RECONCILE_AFTER, quiet_for=RECONCILE_AFTER
        )
    closed = 0
    for attempt_id, sid in silent:
        try:
            call = await ctx["twilio"].calls(sid).fetch_async()
        except Exception as exc:  # the carrier is unreachable too: try again next sweep
            log.info("could not fetch call %s: %s", sid, exc)
            continue
        if call.status not in outcomes.TERMINAL_STATUSES:
            continue
        params = {
            "CallSid": sid,
            "CallStatus": call.status,
            "CallDuration": str(call.duration or 0),
        }
        async with sessions(ctx)() as session, session.begin():
            follow = await outcomes.rep_status(session, attempt_id=attempt_id, params=params)
        await outcomes.enqueue_follow_ups(ctx["redis"], follow)
        closed += 1
    return closed


async def sweep(ctx: dict[str, Any]) -> int:
    """Re-enqueue dials Redis lost and release reps whose calls never reported back."""
    async with sessions(ctx)() as session, session.begin():
        follow = await outcomes.release_expired_claims(session)
    await outcomes.enqueue_follow_ups(ctx["redis"], follow)
    async with sessions(ctx)() as session:
        due = (
            await session.execute(
                select(Lead.id, Lead.dial_round, Lead.status, Source.team)
                .join(Source, Source.id == Lead.source_id)
                .where(Lead.dial_due_at <= datetime.now(UTC), Lead.live_ring_group.is_(None))
                .order_by(Lead.dial_due_at)
                .limit(SWEEP_BATCH)
            )
        ).all()
    waiting_teams = {team for _, _, status, team in due if status == "waiting"}
    for lead_id, dial_round, status, _ in due:
        if status != "waiting":
            await enqueue_dial(ctx["redis"], lead_id, dial_round)
    for team in waiting_teams:  # one job per team drains its queue in order
        await enqueue_dial_waiting(ctx["redis"], team)
    await enqueue_webhook_delivery(ctx["redis"])
    return len(due)
