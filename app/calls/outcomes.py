"""What the carrier tells us about calls, turned into attempt outcomes and the next move.

Every function here runs inside the caller's transaction and returns the follow-ups (leads to
dial, teams with a rep just freed, ring groups to cancel) to enqueue after the commit.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, cast
from uuid import UUID

import asyncpg
from arq.connections import ArqRedis
from sqlalchemy import Table, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.cadences import scheduler
from app.config import get_settings
from app.db import driver_connection, driver_errors
from app.models import Attempt, CallEvent, Lead, Rep
from app.observability import metrics  # observability
from app.queue import (
    EVENTS_EMITTED,
    enqueue_cancel_ring_group,
    enqueue_dial,
    enqueue_dial_waiting,
)
from app.stats import summary
from app.webhooks.schemas import EventType
from app.webhooks.service import attempt_data, emit, give_up_after

TERMINAL_STATUSES = {"completed", "busy", "no-answer", "failed", "canceled"}
REP_LEG_OUTCOMES = {
    "no-answer": "rep_no_answer",
    "busy": "rep_busy",
    "failed": "failed",
    "canceled": "canceled",
}
DIAL_OUTCOMES = {
    "busy": "lead_busy",
    "no-answer": "lead_no_answer",
    "failed": "failed",
    "canceled": "lead_no_answer",
}
MISSES = ("rep_no_answer", "rep_busy")
# The prompt the rep hears when the call with the lead ends (app/voice/twiml.py).
DISPOSITIONS = {"1": "interested", "2": "not_interested", "3": "call_back", "4": "wrong_number"}


@dataclass
class FollowUps:
    dial_leads: list[tuple[UUID, int]] = field(default_factory=list)
    free_teams: set[str] = field(default_factory=set)
    cancel_groups: list[tuple[UUID, UUID]] = field(default_factory=list)


# Twilio's Timestamp has whole seconds only; the arrival time is precise unless delivery lagged.
LATE_DELIVERY = timedelta(seconds=2)


async def enqueue_follow_ups(arq: ArqRedis, follow: FollowUps) -> None:
    """Wake the workers for what a committed transaction made owed."""
    for lead_id, dial_round in follow.dial_leads:
        await enqueue_dial(arq, lead_id, dial_round)
    for ring_group, winner in follow.cancel_groups:
        await enqueue_cancel_ring_group(arq, ring_group, winner)
    for team in follow.free_teams:
        await enqueue_dial_waiting(arq, team)


def event_time(params: dict[str, str]) -> datetime:
    """When the event happened: now, or Twilio's Timestamp for a callback delivered late."""
    arrived = datetime.now(UTC)
    try:
        stamped = carrier_time(params["Timestamp"])
    except (KeyError, TypeError, ValueError):
        return arrived
    return stamped if arrived - stamped > LATE_DELIVERY else arrived


@lru_cache(maxsize=256)
def carrier_time(stamp: str) -> datetime:
    """A Timestamp as a time: parsing one cost as much as a callback's statement, and the
    callbacks of the same second carry the same one."""
    return parsedate_to_datetime(stamp).astimezone(UTC)


# Built once with bind parameters: inlining a callback's twenty-odd parameters into the
# statement made SQLAlchemy hash them for its cache on every callback.
RECORD_EVENT = (
    insert(cast(Table, CallEvent.__table__))
    .values(
        call_sid=bindparam("call_sid"),
        call_status=bindparam("call_status"),
        attempt_id=bindparam("attempt_id"),
        leg=bindparam("leg"),
        payload=bindparam("payload", type_=JSONB()),
    )
    .on_conflict_do_nothing()
    .returning(CallEvent.__table__.c.call_sid)
)


async def record_event(
    session: AsyncSession, *, attempt_id: UUID | None, leg: str, params: dict[str, str]
) -> bool:
    """Store a status callback once; False when it is a retry of one already stored."""
    values = {
        "call_sid": params.get("CallSid", ""),
        "call_status": params.get("CallStatus", ""),
        "attempt_id": attempt_id,
        "leg": leg,
        "payload": params,
    }
    return await session.scalar(RECORD_EVENT, values) is not None


async def lock_attempt(session: AsyncSession, attempt_id: UUID) -> Attempt | None:
    # populate_existing: an attempt this session holds may predate a statement that changed it
    # (REP_PROGRESS); the locked row is the truth.
    return await session.scalar(
        select(Attempt)
        .where(Attempt.id == attempt_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_lead(session: AsyncSession, lead_id: UUID) -> Lead:
    lead = await session.scalar(
        select(Lead)
        .where(Lead.id == lead_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert lead is not None
    return lead


async def rep_status(
    session: AsyncSession, *, attempt_id: UUID, params: dict[str, str]
) -> FollowUps:
    """A status callback of the rep's leg."""
    if params.get("CallStatus", "") not in TERMINAL_STATUSES:
        owed = await rep_progress(
            await driver_connection(session), attempt_id=attempt_id, params=params
        )
        owe_events(session, owed)
        return FollowUps()
    follow = FollowUps()
    attempt = await store_rep_end(session, attempt_id=attempt_id, params=params)
    if attempt is None:  # no such attempt, or a retry of a callback already stored
        return follow
    attempt.rep_call_sid = attempt.rep_call_sid or params.get("CallSid")
    if attempt.ended_at is None:
        await finish_attempt(
            session, attempt, params["CallStatus"], params, event_time(params), follow
        )
    return follow


def lock_and_store(leg: str, *, locked: str = "id") -> str:
    """The CTEs a one-statement callback starts with: `target` locks the attempt (its columns
    `locked`), then `stored` stores the callback's (CallSid, CallStatus) event once and holds
    the attempt's id only when the event is new. The attempt is locked before the event is
    stored: the event's foreign key takes a share lock on the attempt, and two callbacks
    upgrading share locks at once would deadlock. Bound by event_values."""
    return f"""WITH target AS (
    SELECT {locked} FROM attempts WHERE id = CAST(:attempt_id AS uuid) FOR UPDATE
), stored AS (
    INSERT INTO call_events (call_sid, call_status, attempt_id, leg, payload)
    SELECT CAST(:event_sid AS varchar), CAST(:status AS varchar), id, '{leg}',
        CAST(:payload AS jsonb)
    FROM target
    ON CONFLICT DO NOTHING
    RETURNING attempt_id
)"""


def event_values(attempt_id: UUID, params: dict[str, str]) -> dict[str, Any]:
    """lock_and_store's parameters for a callback's signed parameters."""
    return {
        "attempt_id": attempt_id,
        "event_sid": params.get("CallSid", ""),
        "status": params.get("CallStatus", ""),
        "payload": json.dumps(params),
    }


# A rep leg's last callback: lock the attempt, store the event once and end the rep's claim
# lease in one statement, which returns the attempt only when the event is new.
STORE_REP_END = text(
    lock_and_store("rep", locked="id, rep_id")
    + """, released AS (
    UPDATE reps SET claim_expires_at = NULL, updated_at = now()
    FROM target JOIN stored ON stored.attempt_id = target.id
    WHERE reps.id = target.rep_id AND reps.current_attempt_id = target.id
      AND reps.claim_expires_at IS NOT NULL
)
SELECT attempts.* FROM attempts JOIN stored ON stored.attempt_id = attempts.id
"""
)


async def store_rep_end(
    session: AsyncSession, *, attempt_id: UUID, params: dict[str, str]
) -> Attempt | None:
    query = select(Attempt).from_statement(STORE_REP_END)
    values = event_values(attempt_id, params)
    result = await session.execute(query, values, execution_options={"populate_existing": True})
    return result.scalar_one_or_none()


# The attempt's columns outbound events carry (app.webhooks.service.attempt_data), returned by
# the statements below that write an attempt without loading it into the ORM.
EVENT_COLUMNS = (
    "id",
    "lead_id",
    "rep_id",
    "outcome",
    "answered_by",
    "ring_seconds",
    "talk_seconds",
    "total_seconds",
    "create_sent_at",
    "rep_answered_at",
    "lead_answered_at",
    "ended_at",
)
RETURNED_COLUMNS = ", ".join(f"attempts.{name}" for name in EVENT_COLUMNS)

# The callbacks below are one statement each, run by asyncpg on the autocommit pool (see
# app.voice.router): a write that is one statement is atomic by itself, and a session's
# BEGIN, COMMIT and ORM bookkeeping cost more CPU than the statement. The outbound events
# they owe are written by the same statement (emit_ctes), so none is lost or invented.


class Sql:
    """A statement written with :names, as asyncpg runs it: with $1.. and the values in order.
    Numbered once here; asyncpg prepares it once per connection."""

    def __init__(self, sql: str) -> None:
        self.names: list[str] = []
        self.sql = re.sub(r"(?<![:\w]):([a-z_]+)", self.number, sql)

    def number(self, match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in self.names:
            self.names.append(name)
        return f"${self.names.index(name) + 1}"

    async def fetchrow(self, connection: asyncpg.Connection, values: dict[str, Any]) -> Any:
        with driver_errors():
            return await connection.fetchrow(self.sql, *[values[name] for name in self.names])


def stamp(column: str) -> str:
    """A timestamp as attempt_data writes it (datetime.isoformat in UTC: no fraction when the
    microseconds are zero)."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN extract(microseconds FROM "
        f"{column})::bigint % 1000000 = 0 THEN '' ELSE to_char({utc}, '.US') END || '+00:00'"
    )


def event_data(row: str) -> str:
    """attempt_data of the attempt columns a CTE `row` returned (EVENT_COLUMNS), in SQL."""
    values = {
        **{name: f"{row}.{name}::text" for name in ("id", "lead_id", "rep_id")},
        **{name: f"{row}.{name}" for name in EVENT_COLUMNS[3:8]},
        **{name: stamp(f"{row}.{name}") for name in EVENT_COLUMNS[8:]},
    }
    values["attempt_id"] = values.pop("id")
    pairs = ", ".join(f"'{name}', {value}" for name, value in values.items())
    return f"jsonb_build_object({pairs})"


def emit_ctes(type: EventType, row: str, *, where: str = "true", data: str = "") -> str:
    """The CTEs `event` and `owed`: webhooks.service.emit inside a statement, for each attempt
    the CTE `row` returned (where `where` holds), with attempt_data (`|| data`) as its data.
    Bound by :give_up (give_up_after); `owed` counts the deliveries."""
    return f""", event AS (
    INSERT INTO events (id, type, lead_id, data)
    SELECT gen_random_uuid(), '{type.value}', {row}.lead_id, {event_data(row)}{data}
    FROM {row} WHERE {where}
    RETURNING id
), {owed_cte(f"'{type.value}'")}"""


def owed_cte(event_type: str) -> str:
    """The CTE `owed`: a delivery of each row of the CTE `event` to every enabled endpoint that
    wants `event_type` (an SQL expression), as webhooks.service.emit owes them. Bound by
    :give_up."""
    return f"""owed AS (
    INSERT INTO webhook_deliveries (id, event_id, endpoint_id, give_up_at)
    SELECT gen_random_uuid(), event.id, endpoint.id, now() + CAST(:give_up AS interval)
    FROM event JOIN webhook_endpoints AS endpoint
      ON endpoint.enabled
     AND (cardinality(endpoint.event_types) = 0 OR endpoint.event_types @> ARRAY[{event_type}])
    RETURNING 1
)"""


# An event whose data was built in Python, owed to every endpoint that wants it: owed_cte
# after an `event` of one row.
EMIT_ATTEMPT_EVENT = Sql(
    """
WITH event AS (
    INSERT INTO events (id, type, lead_id, data)
    VALUES (gen_random_uuid(), CAST(:type AS text), CAST(:lead_id AS uuid), CAST(:data AS jsonb))
    RETURNING id
), """
    + owed_cte("CAST(:type AS text)")
    + """
SELECT count(*) > 0 FROM owed
"""
)


def owe_events(session: AsyncSession, owed: bool) -> None:
    """What webhooks.service.emit leaves for wake_after_commit, for a statement that ran on
    the session's own connection."""
    if owed:
        session.info[EVENTS_EMITTED] = True


# A rep leg's initiated, ringing and answered callbacks in one statement each: lock the
# attempt, store the event once, and only when it is new stamp the attempt, end the rep's claim
# lease, lower the lead's first_rep_answered_at (app.stats.summary) and tell integrators it
# rings. The attempt is locked first, as in rep_status, and the rep before the lead, as in
# finish_attempt.
REP_PROGRESS = Sql(
    lock_and_store("rep")
    + f""", progressed AS (
    UPDATE attempts
    SET rep_call_sid = coalesce(rep_call_sid, CAST(:call_sid AS varchar)),
        rep_ringing_at = CASE WHEN CAST(:status AS varchar) = 'ringing'
            THEN coalesce(rep_ringing_at, CAST(:at AS timestamptz)) ELSE rep_ringing_at END,
        rep_answered_at = CASE WHEN CAST(:status AS varchar) = 'in-progress'
            THEN coalesce(rep_answered_at, CAST(:at AS timestamptz)) ELSE rep_answered_at END
    FROM stored
    WHERE attempts.id = stored.attempt_id
    RETURNING {RETURNED_COLUMNS}
), released AS (
    UPDATE reps SET claim_expires_at = NULL, updated_at = now()
    FROM progressed
    WHERE reps.id = progressed.rep_id AND reps.current_attempt_id = progressed.id
      AND reps.claim_expires_at IS NOT NULL
    RETURNING reps.id
), answered AS (
    UPDATE leads SET first_rep_answered_at = progressed.rep_answered_at, updated_at = now()
    FROM progressed
    WHERE CAST(:status AS varchar) = 'in-progress' AND leads.id = progressed.lead_id
      AND (leads.first_rep_answered_at IS NULL
           OR leads.first_rep_answered_at > progressed.rep_answered_at)
      AND (SELECT count(*) FROM released) >= 0
)"""
    + emit_ctes(
        EventType.call_rep_ringing, "progressed", where="CAST(:status AS varchar) = 'ringing'"
    )
    + "\nSELECT count(*) > 0 FROM owed"
)


async def rep_progress(
    connection: asyncpg.Connection, *, attempt_id: UUID, params: dict[str, str]
) -> bool:
    """The rep's phone was dialed, rings or answered; True when webhook deliveries are owed."""
    values = {
        **event_values(attempt_id, params),
        "call_sid": params.get("CallSid"),
        "at": event_time(params),
        "give_up": give_up_after(),
    }
    return bool((await REP_PROGRESS.fetchrow(connection, values))[0])


def rep_leg_outcome(attempt: Attempt, status: str, lead: Lead) -> str:
    if attempt.outcome:
        return attempt.outcome
    if attempt.routing == "simultaneous" and lead.accepted_attempt_id not in (None, attempt.id):
        return "canceled"
    if status in REP_LEG_OUTCOMES:
        return REP_LEG_OUTCOMES[status]
    if attempt.rep_accepted_at and attempt.lead_answered_at:  # the Dial action never arrived
        machine = (attempt.answered_by or "").startswith("machine")
        return "lead_voicemail" if machine else "connected"
    # Answered but never accepted: hung up, or the rep's own voicemail took the call.
    return "lead_no_answer" if attempt.rep_accepted_at else "rep_no_answer"


def seconds_between(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds()))


async def finish_attempt(
    session: AsyncSession,
    attempt: Attempt,
    status: str,
    params: dict[str, str],
    at: datetime,
    follow: FollowUps,
) -> None:
    # The lead before the outcome: a simultaneous-ring leg that ends after another leg won
    # lost the race, whatever the carrier says (see cancel_siblings).
    lead = await lock_lead(session, attempt.lead_id)
    attempt.outcome = rep_leg_outcome(attempt, status, lead)
    attempt.status, attempt.ended_at = "ended", at
    metrics.count_outcome(attempt.outcome)  # observability
    attempt.total_seconds = int(params.get("CallDuration") or 0)
    attempt.ring_seconds = seconds_between(
        attempt.rep_ringing_at or attempt.create_sent_at, attempt.rep_answered_at or at
    )
    await release_rep(session, attempt, follow)
    await settle_lead(session, attempt, lead, follow)
    await emit_completed(session, attempt)


async def emit_completed(session: AsyncSession, attempt: Attempt) -> None:
    """webhooks.service.emit, run by the driver on the session's own connection: the ORM's
    execution of the statement cost more than the insert, once per call."""
    values = {
        "type": EventType.attempt_completed.value,
        "lead_id": attempt.lead_id,
        "data": json.dumps(attempt_data(attempt)),
        "give_up": give_up_after(),
    }
    owed = await EMIT_ATTEMPT_EVENT.fetchrow(await driver_connection(session), values)
    owe_events(session, owed[0])


async def release_rep(session: AsyncSession, attempt: Attempt, follow: FollowUps) -> None:
    rep = await session.scalar(select(Rep).where(Rep.id == attempt.rep_id).with_for_update())
    if rep is None:
        return
    if rep.current_attempt_id == attempt.id:
        rep.call_state, rep.current_attempt_id, rep.claim_expires_at = "idle", None, None
        rep.idle_since = datetime.now(UTC)
        follow.free_teams.add(rep.team)
    count_miss(rep, attempt.outcome)


def count_miss(rep: Rep, outcome: str | None) -> None:
    """Two misses in a row set a rep away, so leads stop waiting on a phone nobody answers."""
    if outcome not in MISSES:
        if outcome != "canceled":
            rep.missed_in_row = 0
        return
    rep.missed_in_row += 1
    limit = get_settings().rep_misses_before_away
    if rep.missed_in_row >= limit and rep.availability == "available":
        rep.availability = "away"
        rep.availability_reason = f"missed {rep.missed_in_row} calls in a row"
        rep.availability_changed_at = datetime.now(UTC)


async def group_has_other_live_legs(session: AsyncSession, attempt: Attempt) -> bool:
    live = await session.scalar(
        select(Attempt.id)
        .where(
            Attempt.ring_group == attempt.ring_group,
            Attempt.id != attempt.id,
            Attempt.ended_at.is_(None),
            Attempt.outcome.is_(None),
        )
        .limit(1)
    )
    return live is not None


async def settle_lead(
    session: AsyncSession, attempt: Attempt, lead: Lead, follow: FollowUps
) -> None:
    """End the lead's round when its last leg ends; hand a passed lead to the next rep."""
    if lead.accepted_attempt_id == attempt.id:
        lead.live_ring_group = None
        if lead.status not in scheduler.CLOSED_STATUSES:
            lead.status = "connected" if attempt.outcome == "connected" else "unreached"
        await scheduler.touch_ended(session, lead)
        return
    await hand_on_if_round_over(session, lead, attempt, follow)


async def hand_on_if_round_over(
    session: AsyncSession, lead: Lead, attempt: Attempt, follow: FollowUps
) -> None:
    if lead.live_ring_group != attempt.ring_group or lead.accepted_attempt_id is not None:
        return
    if await group_has_other_live_legs(session, attempt):
        return
    if lead.status in scheduler.CLOSED_STATUSES:  # opted out or closed while it rang
        lead.live_ring_group = None
        return
    lead.live_ring_group, lead.dial_due_at, lead.status = None, datetime.now(UTC), "dialing"
    follow.dial_leads.append((lead.id, lead.dial_round))


@dataclass(frozen=True)
class Bridge:
    """A rep who pressed 1 and won the lead: whom to dial, and as whom."""

    lead_phone: str
    caller_id: str | None  # the source's; None for the account's default
    routing: str
    ring_group: UUID


# First rep to press 1 takes the lead: the compare-and-set on the lead makes it one winner, and
# the winner's attempt is stamped in the same statement, which also reads whom to dial and,
# for a simultaneous ring, cancels the other legs. The attempt is locked before the lead, as
# everywhere. A leg locked right now is skipped: its own callback holds it and may be waiting
# for the lead, which the winner holds, so waiting for that leg could deadlock. A skipped leg
# is hung up all the same (the cancel_ring_group job), and ends `canceled` when its last
# callback finds the lead won by another leg (rep_leg_outcome).
ACCEPT_OFFER = Sql(
    """
WITH target AS (
    SELECT id, lead_id, ring_group FROM attempts
    WHERE id = CAST(:attempt_id AS uuid) AND ended_at IS NULL AND outcome IS NULL
    FOR UPDATE
), won AS (
    UPDATE leads SET accepted_attempt_id = target.id, status = 'connecting', updated_at = now()
    FROM target
    WHERE leads.id = target.lead_id AND leads.live_ring_group = target.ring_group
      AND leads.accepted_attempt_id IS NULL AND leads.status <> ALL(CAST(:closed AS text[]))
    RETURNING leads.phone, leads.source_id
), accepted AS (
    UPDATE attempts
    SET digits = CAST(:digits AS varchar), rep_accepted_at = CAST(:at AS timestamptz),
        status = 'bridging'
    FROM won
    WHERE attempts.id = CAST(:attempt_id AS uuid)
    RETURNING attempts.routing, attempts.ring_group
), canceled AS (
    UPDATE attempts SET outcome = 'canceled'
    WHERE attempts.id IN (
        SELECT sibling.id FROM attempts AS sibling JOIN accepted
          ON accepted.routing = 'simultaneous' AND sibling.ring_group = accepted.ring_group
        WHERE sibling.id <> CAST(:attempt_id AS uuid) AND sibling.outcome IS NULL
        FOR UPDATE OF sibling SKIP LOCKED
    )
)
SELECT won.phone, sources.caller_id, accepted.routing, accepted.ring_group
FROM won CROSS JOIN accepted JOIN sources ON sources.id = won.source_id
"""
)


async def accept_offer(
    connection: asyncpg.Connection, *, attempt_id: UUID, digits: str
) -> Bridge | None:
    """The rep pressed 1: the bridge to place if it won the lead."""
    values = {
        "attempt_id": attempt_id,
        "closed": sorted(scheduler.CLOSED_STATUSES),
        "digits": digits,
        "at": datetime.now(UTC),
    }
    row = await ACCEPT_OFFER.fetchrow(connection, values)
    return None if row is None else Bridge(*row)


def bridge_follow_ups(bridge: Bridge, attempt_id: UUID) -> FollowUps:
    """A simultaneous ring's other legs are hung up once the winner's statement committed."""
    follow = FollowUps()
    if bridge.routing == "simultaneous":
        follow.cancel_groups.append((bridge.ring_group, attempt_id))
    return follow


async def rep_choice(
    session: AsyncSession, *, attempt_id: UUID, digits: str
) -> tuple[Bridge | None, FollowUps]:
    """The rep's key after the whisper: the bridge to place if it won the lead."""
    if digits == "1" and (
        bridge := await accept_offer(
            await driver_connection(session), attempt_id=attempt_id, digits=digits
        )
    ):
        return bridge, bridge_follow_ups(bridge, attempt_id)
    return None, await pass_offer(session, attempt_id=attempt_id, digits=digits)


async def pass_offer(session: AsyncSession, *, attempt_id: UUID, digits: str) -> FollowUps:
    """A pass, or a 1 pressed after another rep won the lead (or it closed meanwhile)."""
    follow = FollowUps()
    attempt = await lock_attempt(session, attempt_id)
    if attempt is None or attempt.ended_at is not None or attempt.outcome is not None:
        return follow
    attempt.digits = digits
    attempt.outcome = pass_outcome(digits, lost_race=digits == "1")
    lead = await lock_lead(session, attempt.lead_id)
    await hand_on_if_round_over(session, lead, attempt, follow)
    return follow


def pass_outcome(digits: str, *, lost_race: bool) -> str:
    if lost_race:
        return "canceled"
    return "rep_declined" if digits else "rep_no_answer"


@dataclass(frozen=True)
class Offer:
    """What the whisper tells a rep who answered about the lead on offer."""

    attempt_id: UUID
    source_name: str
    full_name: str | None
    first_name: str | None
    last_name: str | None
    fields: dict[str, str]
    phone_raw: str
    email: str | None


# The rep picked up: stamp the answer, lower the lead's first_rep_answered_at
# (app.stats.summary) and read what the whisper says, in one statement. The lead is offered
# still when its live ring group is this attempt's and nobody accepted it yet. The form's
# fields come as text: the autocommit pool's connections decode no JSON, a session's do.
REP_ANSWERED = Sql(
    """
WITH target AS (
    SELECT id FROM attempts
    WHERE id = CAST(:attempt_id AS uuid) AND ended_at IS NULL
    FOR UPDATE
), answered AS (
    UPDATE attempts SET rep_answered_at = coalesce(rep_answered_at, CAST(:at AS timestamptz))
    FROM target
    WHERE attempts.id = target.id
    RETURNING attempts.id, attempts.lead_id, attempts.ring_group, attempts.rep_answered_at
), lowered AS (
    UPDATE leads SET first_rep_answered_at = answered.rep_answered_at, updated_at = now()
    FROM answered
    WHERE leads.id = answered.lead_id
      AND (leads.first_rep_answered_at IS NULL
           OR leads.first_rep_answered_at > answered.rep_answered_at)
)
SELECT answered.id, sources.name, leads.full_name, leads.first_name, leads.last_name,
       CAST(leads.fields AS text), leads.phone_raw, leads.email,
       leads.accepted_attempt_id IS NULL AND leads.live_ring_group = answered.ring_group
FROM answered
JOIN leads ON leads.id = answered.lead_id
JOIN sources ON sources.id = leads.source_id
"""
)


async def rep_answered(connection: asyncpg.Connection, *, attempt_id: UUID) -> Offer | None:
    """The rep picked up and the whisper is about to play. None if the lead is gone."""
    values = {"attempt_id": attempt_id, "at": datetime.now(UTC)}
    row = await REP_ANSWERED.fetchrow(connection, values)
    if row is None or not row[-1]:
        return None
    attempt, source, full, first, last, fields, phone_raw, email, _ = row
    return Offer(attempt, source, full, first, last, json.loads(fields), phone_raw, email)


@dataclass(frozen=True)
class DialResult:
    outcome: str | None
    disposition: str | None


# The <Dial> to the lead ended: the attempt's outcome (a first report only; a retry changes
# nothing) and the lead's connected_at lowered when it connected (app.stats.summary).
DIAL_RESULT = Sql(
    """
WITH target AS (
    SELECT id, outcome, disposition FROM attempts WHERE id = CAST(:attempt_id AS uuid)
    FOR UPDATE
), resulted AS (
    UPDATE attempts
    SET lead_call_sid = coalesce(lead_call_sid, CAST(:dial_sid AS varchar)),
        talk_seconds = CAST(:talk_seconds AS integer),
        answered_by = coalesce(CAST(:answered_by AS varchar), nullif(answered_by, '')),
        outcome = CASE
            WHEN NOT CAST(:bridged AS boolean) THEN CAST(:unbridged_outcome AS varchar)
            WHEN starts_with(coalesce(CAST(:answered_by AS varchar), answered_by, ''), 'machine')
                THEN 'lead_voicemail'
            ELSE 'connected' END
    FROM target
    WHERE attempts.id = target.id AND target.outcome IS NULL
    RETURNING attempts.lead_id, attempts.outcome, attempts.lead_answered_at, attempts.disposition
), lowered AS (
    UPDATE leads SET connected_at = resulted.lead_answered_at, updated_at = now()
    FROM resulted
    WHERE leads.id = resulted.lead_id AND resulted.outcome = 'connected'
      AND resulted.lead_answered_at IS NOT NULL
      AND (leads.connected_at IS NULL OR leads.connected_at > resulted.lead_answered_at)
)
SELECT outcome, disposition FROM resulted
UNION ALL
SELECT outcome, disposition FROM target WHERE outcome IS NOT NULL
"""
)


async def dial_result(
    connection: asyncpg.Connection, *, attempt_id: UUID, params: dict[str, str]
) -> DialResult | None:
    """The <Dial> to the lead ended: connected, or why not."""
    status = params.get("DialCallStatus", "")
    values = {
        "attempt_id": attempt_id,
        "dial_sid": params.get("DialCallSid"),
        "talk_seconds": int(params.get("DialCallDuration") or 0),
        "answered_by": params.get("AnsweredBy") or None,
        "bridged": status in ("completed", "answered"),
        "unbridged_outcome": DIAL_OUTCOMES.get(status, "failed"),
    }
    row = await DIAL_RESULT.fetchrow(connection, values)
    return None if row is None else DialResult(*row)


# The rep's key after the call: the attempt's disposition, once, and the lead's, with the
# attempt locked before the lead as everywhere; integrators are told.
RECORD_DISPOSITION = Sql(
    f"""
WITH target AS (
    SELECT id FROM attempts
    WHERE id = CAST(:attempt_id AS uuid) AND disposition IS NULL
    FOR UPDATE
), recorded AS (
    UPDATE attempts
    SET disposition = CAST(:disposition AS varchar), disposition_at = CAST(:at AS timestamptz)
    FROM target
    WHERE attempts.id = target.id
    RETURNING {RETURNED_COLUMNS}
), steered AS (
    UPDATE leads
    SET disposition = CAST(:disposition AS varchar), disposition_at = CAST(:at AS timestamptz),
        updated_at = now()
    FROM recorded
    WHERE leads.id = recorded.lead_id
)"""
    + emit_ctes(
        EventType.lead_disposition,
        "recorded",
        data=" || jsonb_build_object('disposition', CAST(:disposition AS varchar))",
    )
    + "\nSELECT (SELECT count(*) FROM recorded) > 0, (SELECT count(*) FROM owed) > 0"
)


async def record_disposition(
    connection: asyncpg.Connection, *, attempt_id: UUID, digits: str
) -> tuple[str | None, bool]:
    """The rep's key after talking to the lead; it steers the follow-up (see scheduler). The
    disposition recorded (None for an unknown key or a retry) and whether webhook deliveries
    are owed."""
    disposition = DISPOSITIONS.get(digits)
    if disposition is None:
        return None, False
    values = {
        "attempt_id": attempt_id,
        "disposition": disposition,
        "at": datetime.now(UTC),
        "give_up": give_up_after(),
    }
    recorded, owed = await RECORD_DISPOSITION.fetchrow(connection, values)
    return (disposition if recorded else None), bool(owed)


# A status callback of the lead's leg, the <Number> of the bridge: the event stored once, and
# only when it is new the attempt stamped, the lead's connected_at lowered when the bridge
# already reported a connection (app.stats.summary), and integrators told of an answer the
# bridge has not reported yet. A machine's answer takes the ORM path (lead_status), which may
# have to correct the outcome.
LEAD_PROGRESS = Sql(
    lock_and_store("lead")
    + f""", progressed AS (
    UPDATE attempts
    SET lead_call_sid = coalesce(lead_call_sid, CAST(:call_sid AS varchar)),
        answered_by = coalesce(CAST(:answered_by AS varchar), answered_by),
        lead_answered_at = CASE WHEN CAST(:status AS varchar) = 'in-progress'
            THEN coalesce(lead_answered_at, CAST(:at AS timestamptz)) ELSE lead_answered_at END
    FROM stored
    WHERE attempts.id = stored.attempt_id
    RETURNING {RETURNED_COLUMNS}
), lowered AS (
    UPDATE leads SET connected_at = progressed.lead_answered_at, updated_at = now()
    FROM progressed
    WHERE CAST(:status AS varchar) = 'in-progress' AND leads.id = progressed.lead_id
      AND progressed.outcome = 'connected'
      AND (leads.connected_at IS NULL OR leads.connected_at > progressed.lead_answered_at)
)"""
    + emit_ctes(
        EventType.call_connected,
        "progressed",
        where="CAST(:status AS varchar) = 'in-progress' AND progressed.outcome IS NULL",
    )
    + "\nSELECT count(*) > 0 FROM owed"
)


def is_machine(params: dict[str, str]) -> bool:
    return params.get("AnsweredBy", "").startswith("machine")


async def lead_status(session: AsyncSession, *, attempt_id: UUID, params: dict[str, str]) -> None:
    """A status callback of the lead's leg (the <Number> of the bridge)."""
    if not is_machine(params):
        connection = await driver_connection(session)
        owe_events(session, await lead_progress(connection, attempt_id=attempt_id, params=params))
        return
    attempt = await lock_attempt(session, attempt_id)
    if attempt is None:
        return
    if not await record_event(session, attempt_id=attempt_id, leg="lead", params=params):
        return
    attempt.lead_call_sid = attempt.lead_call_sid or params.get("CallSid")
    attempt.answered_by = params["AnsweredBy"]
    await correct_to_voicemail(session, attempt)
    if params.get("CallStatus") == "in-progress":
        attempt.lead_answered_at = attempt.lead_answered_at or event_time(params)
        await summary.first_connection(session, attempt)  # when dial_result came first
    if params.get("CallStatus") == "in-progress" and attempt.outcome is None:
        await emit_connected(session, attempt)


async def lead_progress(
    connection: asyncpg.Connection, *, attempt_id: UUID, params: dict[str, str]
) -> bool:
    """The lead's leg answered or ended, a person (or nobody) on it; True when webhook
    deliveries are owed."""
    values = {
        **event_values(attempt_id, params),
        "call_sid": params.get("CallSid"),
        "answered_by": params.get("AnsweredBy") or None,
        "at": event_time(params),
        "give_up": give_up_after(),
    }
    return bool((await LEAD_PROGRESS.fetchrow(connection, values))[0])


async def emit_connected(session: AsyncSession, attempt: Attempt) -> None:
    await emit(
        session,
        type=EventType.call_connected,
        data=attempt_data(attempt),
        lead_id=attempt.lead_id,
    )


async def fail_attempt(
    session: AsyncSession, *, attempt_id: UUID, error: str, retry_after: timedelta | None
) -> FollowUps:
    """Close an attempt whose call could not be placed or never reported back."""
    follow = FollowUps()
    attempt = await lock_attempt(session, attempt_id)
    if attempt is None or attempt.ended_at is not None:
        return follow
    attempt.outcome, attempt.error = "failed", error
    attempt.status, attempt.ended_at = "ended", datetime.now(UTC)
    metrics.count_outcome("failed")  # observability
    await release_rep(session, attempt, follow)
    await emit_completed(session, attempt)
    lead = await lock_lead(session, attempt.lead_id)
    if retry_after is None:
        await hand_on_if_round_over(session, lead, attempt, follow)
    elif lead.live_ring_group == attempt.ring_group and not await group_has_other_live_legs(
        session, attempt
    ):
        # The carrier is failing: try this lead again later instead of burning every rep.
        lead.live_ring_group, lead.status = None, "unreached"
        lead.dial_due_at = datetime.now(UTC) + retry_after
    return follow


async def release_expired_claims(session: AsyncSession, *, limit: int = 100) -> FollowUps:
    """Reps whose calls were never placed, or never reported back, go back to work."""
    follow = FollowUps()
    stale = await session.scalars(
        select(Rep.current_attempt_id)
        .where(Rep.claim_expires_at < datetime.now(UTC), Rep.current_attempt_id.is_not(None))
        .limit(limit)
    )
    for attempt_id in list(stale):
        assert attempt_id is not None
        found = await fail_attempt(
            session, attempt_id=attempt_id, error="no word from the carrier", retry_after=None
        )
        merge(follow, found)
        await session.execute(
            update(Rep)
            .where(Rep.current_attempt_id == attempt_id)
            .values(call_state="idle", current_attempt_id=None, claim_expires_at=None)
        )
    return follow


def merge(into: FollowUps, other: FollowUps) -> None:
    into.dial_leads += other.dial_leads
    into.free_teams |= other.free_teams
    into.cancel_groups += other.cancel_groups


async def correct_to_voicemail(session: AsyncSession, attempt: Attempt) -> None:
    """Machine detection can report after the bridge ended: a machine is not a contact."""
    if not (attempt.answered_by or "").startswith("machine") or attempt.outcome != "connected":
        return
    # The lead first, then the outcome: changing an outcome takes the lead's lead_outcomes row
    # (a trigger), and a winning rep elsewhere holds the lead while it cancels its siblings.
    lead = await lock_lead(session, attempt.lead_id)
    attempt.outcome = "lead_voicemail"
    await summary.recompute_connected_at(session, lead)
    if lead.accepted_attempt_id == attempt.id and lead.status == "connected":
        lead.status = "unreached"


async def silent_live_calls(
    session: AsyncSession, *, older_than: timedelta, quiet_for: timedelta, limit: int = 50
) -> list[tuple[UUID, str]]:
    """Live attempts past their ring time with no callback lately: the carrier may have ended
    them while we could not hear it (our API or database was down), and it does not retry."""
    now = datetime.now(UTC)
    last_heard = (
        select(func.max(CallEvent.received_at))
        .where(CallEvent.attempt_id == Attempt.id)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Attempt.id, Attempt.rep_call_sid)
        .where(
            Attempt.ended_at.is_(None),
            Attempt.rep_call_sid.is_not(None),
            Attempt.created_at < now - older_than,
            or_(last_heard.is_(None), last_heard < now - quiet_for),
        )
        .limit(limit)
    )
    return [(attempt_id, sid) for attempt_id, sid in rows if sid is not None]
