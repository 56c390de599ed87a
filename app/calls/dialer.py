"""Offering a lead to reps: claim free reps, open attempts, place the rep calls.

Postgres row locks make every claim exclusive across any number of workers: the lead row is
locked with SKIP LOCKED (a second job for the same lead finds nothing to do) and reps are
claimed in one UPDATE over a SKIP LOCKED subquery (two workers never get the same rep).
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from twilio.base.exceptions import TwilioRestException

from app.cadences import scheduler
from app.config import Settings, get_settings
from app.models import Attempt, DoNotCall, Lead, Rep, Source, Team, new_id
from app.webhooks.schemas import EventType
from app.webhooks.service import emit, lead_data

log = logging.getLogger(__name__)

REP_PASSES = ("rep_no_answer", "rep_declined", "rep_busy")
# A placed call that never reports back releases its rep after the ring time plus this.
CALLBACK_GRACE = timedelta(minutes=2)
CARRIER_RETRY_AFTER = timedelta(minutes=1)
FIRST_BACKOFF_S = 0.05


@dataclass
class RepCall:
    attempt_id: UUID
    rep_id: UUID
    rep_phone: str


@dataclass
class Round:
    """What start_round decided: calls to place now, or why there are none."""

    result: str  # "started", "waiting", "unreached" or "not_due"
    lead_id: UUID
    team: str = "default"
    calls: list[RepCall] = field(default_factory=list)
    started_at: datetime | None = None
    # observability: the lead's received_at on its first round only, for speed-to-lead
    received_at: datetime | None = None


def placing_lease() -> timedelta:
    """How long a claim may go without a placed call before the sweeper hands the lead on:
    the whole dial budget (retries included) and then some."""
    settings = get_settings()
    return timedelta(seconds=settings.dial_budget_seconds + settings.claim_lease_seconds)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class DueLead:
    lead: Lead
    source: Source
    team: Team
    listed: bool  # on the do-not-call list


async def lock_due_lead(session: AsyncSession, lead_id: UUID) -> DueLead | None:
    """The due lead, locked, with its source, team and do-not-call flag: one round trip, on
    the path every first call waits on. The source and team join the session's identity map,
    so later lookups of them cost nothing."""
    listed = select(DoNotCall.phone).where(DoNotCall.phone == Lead.phone).exists()
    row = (
        await session.execute(
            select(Lead, Source, Team, listed)
            .join(Source, Source.id == Lead.source_id)
            .outerjoin(Team, Team.slug == Source.team)
            .where(
                Lead.id == lead_id, Lead.dial_due_at.is_not(None), Lead.live_ring_group.is_(None)
            )
            .with_for_update(of=Lead, skip_locked=True)
        )
    ).one_or_none()
    if row is None:
        return None
    lead, source, team, is_listed = row
    team = team or Team(slug=source.team, routing="longest_idle", ring_group_size=1)
    return DueLead(lead, source, team, bool(is_listed))


async def reps_who_passed(session: AsyncSession, lead: Lead) -> list[UUID]:
    """Reps who passed on this lead in its current call touch: a later follow-up call may
    offer it to them again."""
    if lead.first_call_at is None:  # never offered to anyone: nobody can have passed
        return []
    query = select(Attempt.rep_id).where(
        Attempt.lead_id == lead.id,
        Attempt.outcome.in_(REP_PASSES),
        Attempt.rep_id.is_not(None),
    )
    if lead.touch_started_at is not None:
        query = query.where(Attempt.created_at >= lead.touch_started_at)
    return [rep_id for rep_id in await session.scalars(query) if rep_id is not None]


async def untried_reps(session: AsyncSession, *, team: str, exclude: list[UUID]) -> int:
    """Reps who could still take this lead once they are free (off a call, back from away)."""
    query = select(func.count()).where(Rep.team == team)
    if exclude:
        query = query.where(Rep.id.not_in(exclude))
    return int(await session.scalar(query) or 0)


async def start_round(session: AsyncSession, *, lead_id: UUID) -> Round:
    """Offer a due lead to the next free rep (or reps, for simultaneous ring)."""
    due = await lock_due_lead(session, lead_id)
    if due is None:
        return Round("not_due", lead_id)
    lead, team = due.lead, due.team
    if due.listed:
        await scheduler.refuse_listed_number(session, lead)
        return Round("do_not_call", lead.id)
    if await scheduler.hold_for_window(session, lead):
        return Round("not_due", lead.id)
    started = now()
    passed = await reps_who_passed(session, lead)
    count = team.ring_group_size if team.routing == "simultaneous" else 1
    first_received = lead.received_at if lead.dial_round == 0 else None  # observability
    calls = await open_attempts(session, lead, team, count=count, exclude=passed, at=started)
    if not calls:
        return await no_rep_now(session, lead, team.slug, passed)
    return Round("started", lead.id, team.slug, calls, started, first_received)


async def no_rep_now(session: AsyncSession, lead: Lead, team: str, passed: list[UUID]) -> Round:
    if not passed or await untried_reps(session, team=team, exclude=passed):
        if lead.status != "waiting":
            await emit(session, type=EventType.lead_waiting, data=lead_data(lead), lead_id=lead.id)
        lead.status = "waiting"  # stays due: dialed the moment a rep frees up
        return Round("waiting", lead.id, team)
    lead.status, lead.dial_due_at = "unreached", None
    await emit(session, type=EventType.lead_exhausted, data=lead_data(lead), lead_id=lead.id)
    await scheduler.touch_ended(session, lead)
    return Round("unreached", lead.id, team)


# One statement opens a round: it claims up to `count` free reps of the team (SKIP LOCKED: two
# workers never get the same rep), opens an attempt for each and hands the lead, locked by
# lock_due_lead, to them. As an ORM claim, add and flush it cost four round trips and the
# flush's bookkeeping, on the path every first call waits on. The lead's first_call_at is
# min(attempts.create_sent_at), which is the claim time until a call is placed (see
# app.stats.summary and record_placed).
OPEN_ROUND = """
WITH free AS (
    SELECT id FROM reps
    WHERE team = :team AND availability = 'available' AND call_state = 'idle'
      AND id <> ALL(CAST(:exclude AS uuid[]))
    ORDER BY {order}, id
    LIMIT :count
    FOR UPDATE SKIP LOCKED
), numbered AS (
    SELECT id, row_number() OVER () AS n FROM free
), claimed AS (
    UPDATE reps
    SET call_state = 'ringing', last_offered_at = :at, claim_expires_at = :lease_ends,
        current_attempt_id = (CAST(:attempt_ids AS uuid[]))[numbered.n], updated_at = now()
    FROM numbered
    WHERE reps.id = numbered.id
    RETURNING reps.id, reps.phone, reps.current_attempt_id
), opened AS (
    INSERT INTO attempts (id, lead_id, rep_id, ring_group, routing, status,
                          webhook_received_at, job_started_at, create_sent_at, created_at)
    SELECT current_attempt_id, CAST(:lead_id AS uuid), id, CAST(:ring_group AS uuid),
           CAST(:routing AS varchar), 'placing', CAST(:received_at AS timestamptz),
           CAST(:at AS timestamptz), CAST(:at AS timestamptz), CAST(:at AS timestamptz)
    FROM claimed
), handed AS (
    UPDATE leads
    SET live_ring_group = :ring_group, dial_due_at = NULL, status = 'dialing',
        dial_round = dial_round + 1, touches = touches + (SELECT count(*) FROM claimed),
        first_call_at = least(coalesce(first_call_at, :at), :at),
        dial_job_started_at = coalesce(dial_job_started_at, :at), updated_at = now()
    WHERE id = :lead_id AND EXISTS (SELECT FROM claimed)
)
SELECT id, phone, current_attempt_id FROM claimed
"""
ROUTING_ORDER = {  # which free rep goes first
    "round_robin": "last_offered_at ASC NULLS FIRST",
    "longest_idle": "idle_since ASC",
}
OPEN_ROUND_BY_ORDER = {
    order: text(OPEN_ROUND.format(order=order)) for order in set(ROUTING_ORDER.values())
}


async def open_attempts(
    session: AsyncSession, lead: Lead, team: Team, *, count: int, exclude: list[UUID], at: datetime
) -> list[RepCall]:
    """Claim free reps and open an attempt for each; no calls when no rep is free."""
    group = new_id()
    order = ROUTING_ORDER.get(team.routing, ROUTING_ORDER["longest_idle"])
    params = {
        "team": team.slug,
        "exclude": exclude,
        "count": count,
        "at": at,
        "lease_ends": at + placing_lease(),
        "attempt_ids": [new_id() for _ in range(count)],
        "lead_id": lead.id,
        "ring_group": group,
        "routing": team.routing,
        "received_at": lead.received_at,
    }
    rows = (await session.execute(OPEN_ROUND_BY_ORDER[order], params)).all()
    calls = [RepCall(attempt_id, rep_id, phone) for rep_id, phone, attempt_id in rows]
    if calls:
        mirror_round(session, lead, calls, group, at)
    return calls


def mirror_round(
    session: AsyncSession, lead: Lead, calls: list[RepCall], group: UUID, at: datetime
) -> None:
    """What OPEN_ROUND wrote, on the objects this session already holds, so that later work in
    the same session (tests, mostly) sees the round and no flush writes it again."""
    values = {
        "live_ring_group": group,
        "dial_due_at": None,
        "status": "dialing",
        "dial_round": lead.dial_round + 1,
        "touches": lead.touches + len(calls),
        "first_call_at": min(lead.first_call_at or at, at),
        "dial_job_started_at": lead.dial_job_started_at or at,
    }
    for name, value in values.items():
        set_committed_value(lead, name, value)
    session.expire(lead, ["updated_at"])
    for call in calls:  # reps are loaded here only when a test made them in this session
        rep = session.identity_map.get(session.identity_key(Rep, call.rep_id))
        if rep is not None:
            session.expire(rep, REP_CLAIM_COLUMNS)


REP_CLAIM_COLUMNS = [
    "call_state",
    "last_offered_at",
    "claim_expires_at",
    "current_attempt_id",
    "updated_at",
]


def is_retryable(exc: Exception) -> bool:
    """429 and 5xx were refused before any call existed; so was a connection never made."""
    if isinstance(exc, TwilioRestException):
        status = int(exc.status)
        return status == 429 or status >= 500
    return isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError)


def is_ambiguous(exc: Exception) -> bool:
    """The request may have reached the carrier: retrying could ring the rep twice."""
    return isinstance(exc, asyncio.TimeoutError | aiohttp.ClientError | OSError)


async def create_rep_call(
    client: Any, *, settings: Settings, call: RepCall, deadline: float
) -> tuple[Any, int]:
    """calls.create to the rep, retrying 429 and 5xx with backoff until the dial budget is spent."""
    base = settings.public_base_url.rstrip("/")
    retries, backoff = 0, FIRST_BACKOFF_S
    loop = asyncio.get_running_loop()
    while True:
        request = client.calls.create_async(
            to=call.rep_phone,
            from_=settings.caller_id,
            url=f"{base}/twilio/voice/rep?attempt={call.attempt_id}",
            status_callback=f"{base}/twilio/status/rep?attempt={call.attempt_id}",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            timeout=settings.rep_ring_timeout_seconds,
        )
        try:
            return await asyncio.wait_for(request, max(deadline - loop.time(), 0.5)), retries
        except Exception as exc:
            if is_retryable(exc) and loop.time() + backoff < deadline:
                retries += 1
                await asyncio.sleep(backoff)
                backoff *= 2
                continue
            if is_ambiguous(exc):
                raise CarrierUnsure(str(exc) or type(exc).__name__, retries) from exc
            raise CarrierFailure(str(exc), retries) from exc


class CarrierFailure(Exception):
    """The carrier refused the call: no call exists."""

    def __init__(self, message: str, retries: int) -> None:
        super().__init__(message)
        self.retries = retries


class CarrierUnsure(CarrierFailure):
    """No answer from the carrier: the call may exist. Its callbacks will say so; if none
    come, the claim's lease runs out and the sweeper hands the lead on."""


# The call's SID the moment it returns (a callback may have stored it already), the rep's lease
# moved on to the ring time, and the lead locked for its first_call_at: one statement, row
# locks taken attempt, rep, lead, as everywhere.
RECORD_PLACED = text(
    """
WITH placed AS (
    UPDATE attempts
    SET rep_call_sid = coalesce(rep_call_sid, CAST(:sid AS varchar)),
        create_sent_at = CAST(:sent_at AS timestamptz),
        sid_returned_at = CAST(:at AS timestamptz),
        queue_time_ms = CAST(:queue_time_ms AS integer),
        carrier_retries = CAST(:retries AS integer),
        status = coalesce(nullif(status, 'placing'), 'ringing')
    WHERE id = CAST(:attempt_id AS uuid) AND ended_at IS NULL
    RETURNING lead_id
), leased AS (
    UPDATE reps SET claim_expires_at = CAST(:lease_ends AS timestamptz), updated_at = now()
    FROM placed
    WHERE reps.id = CAST(:rep_id AS uuid) AND reps.current_attempt_id = CAST(:attempt_id AS uuid)
      AND reps.claim_expires_at IS NOT NULL
    RETURNING reps.id
)
SELECT leads.id FROM leads JOIN placed ON placed.lead_id = leads.id
WHERE (SELECT count(*) FROM leased) >= 0
FOR UPDATE OF leads
"""
)


async def record_placed(
    session: AsyncSession,
    *,
    call: RepCall,
    sid: str,
    sent_at: datetime,
    queue_time_ms: int | None,
    retries: int,
    ring_timeout: int,
) -> bool:
    """Store the CallSid the moment it returns; a callback may already have stored it.

    False when the attempt was closed meanwhile (its lease ran out): the call must not ring on.
    """
    at = now()
    values = {
        "sid": sid,
        "sent_at": sent_at,
        "at": at,
        "queue_time_ms": queue_time_ms,
        "retries": retries,
        "attempt_id": call.attempt_id,
        "rep_id": call.rep_id,
        "lease_ends": at + timedelta(seconds=ring_timeout) + CALLBACK_GRACE,
    }
    lead_id = await session.scalar(RECORD_PLACED, values)
    if lead_id is None:
        return False
    # The attempt's create_sent_at moved from the claim to the send: the lead's first_call_at,
    # min(create_sent_at) (app.stats.summary), read now that the lead is locked, so two calls
    # of one ring group placed at once cannot each miss the other's time.
    first = select(func.min(Attempt.create_sent_at)).where(Attempt.lead_id == lead_id)
    await session.execute(
        update(Lead).where(Lead.id == lead_id).values(first_call_at=first.scalar_subquery())
    )
    return True
