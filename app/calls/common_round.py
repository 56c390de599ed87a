"""The dial's common case outside any transaction: a round of one call that opens and is placed.

start_round and record_placed each run in a session's transaction: BEGIN, the lead's lock and
reads, the write, COMMIT, and the ORM's bookkeeping around them, on the path every first call
waits on. When the lead is due, callable now and a rep is free, the same work fits in three
statements on the autocommit pool, each atomic by itself; every other case goes to those
functions, which decide it as before.
"""

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

import asyncpg

from app.cadences import scheduler
from app.calls.dialer import (
    CALLBACK_GRACE,
    REP_PASSES,
    ROUTING_ORDER,
    RepCall,
    Round,
    now,
    placing_lease,
)
from app.models import Source, new_id

# The common round without a transaction: READ_ROUND reads what start_round decides on, the
# calling window is checked here, and OPEN_LOCKED_ROUND opens the round in one statement, on
# the autocommit pool, only while the lead is still the row that was read (its xmin) and not
# locked by anyone: fewer round trips than start_round's session (BEGIN, the lock, the
# passed reps, COMMIT) and none of its bookkeeping. Anything else (not due, do-not-call,
# outside the window, no rep free, the lead changed or locked meanwhile) goes to start_round.
READ_ROUND = """
SELECT l.xmin, l.phone, l.dial_round, l.received_at, l.first_call_at IS NULL,
       s.slug, s.team, s.after_hours_policy, s.calling_window_start, s.calling_window_end,
       t.routing, t.ring_group_size,
       CASE WHEN l.first_call_at IS NULL THEN ARRAY[]::uuid[] ELSE ARRAY(
           SELECT a.rep_id FROM attempts a
           WHERE a.lead_id = l.id AND a.outcome = ANY($2::varchar[]) AND a.rep_id IS NOT NULL
             AND (l.touch_started_at IS NULL OR a.created_at >= l.touch_started_at)
       ) END
FROM leads l JOIN sources s ON s.id = l.source_id LEFT JOIN teams t ON t.slug = s.team
WHERE l.id = $1 AND l.dial_due_at IS NOT NULL AND l.live_ring_group IS NULL
"""
# OPEN_ROUND with the lead's lock and checks as its first step: $1 lead, $2 xmin, $3 team,
# $4 passed reps, $5 count, $6 claim time, $7 lease end, $8 attempt ids, $9 ring group,
# $10 routing, $11 received_at.
OPEN_LOCKED_ROUND = """
WITH lead AS MATERIALIZED (
    SELECT id FROM leads
    WHERE id = $1::uuid AND xmin = $2::xid AND dial_due_at IS NOT NULL AND live_ring_group IS NULL
      AND NOT EXISTS (SELECT FROM do_not_call WHERE do_not_call.phone = leads.phone)
    FOR UPDATE SKIP LOCKED
), free AS (
    SELECT id FROM reps
    WHERE team = $3::varchar AND availability = 'available' AND call_state = 'idle'
      AND id <> ALL($4::uuid[]) AND EXISTS (SELECT FROM lead)
    ORDER BY {order}, id
    LIMIT $5::integer
    FOR UPDATE SKIP LOCKED
), numbered AS (
    SELECT id, row_number() OVER () AS n FROM free
), claimed AS (
    UPDATE reps
    SET call_state = 'ringing', last_offered_at = $6::timestamptz,
        claim_expires_at = $7::timestamptz,
        current_attempt_id = ($8::uuid[])[numbered.n], updated_at = now()
    FROM numbered
    WHERE reps.id = numbered.id
    RETURNING reps.id, reps.phone, reps.current_attempt_id
), opened AS (
    INSERT INTO attempts (id, lead_id, rep_id, ring_group, routing, status,
                          webhook_received_at, job_started_at, create_sent_at, created_at)
    SELECT current_attempt_id, $1::uuid, id, $9::uuid, $10::varchar, 'placing',
           $11::timestamptz, $6::timestamptz, $6::timestamptz, $6::timestamptz
    FROM claimed
), handed AS (
    UPDATE leads
    SET live_ring_group = $9, dial_due_at = NULL, status = 'dialing',
        dial_round = dial_round + 1, touches = touches + (SELECT count(*) FROM claimed),
        first_call_at = least(coalesce(first_call_at, $6), $6),
        dial_job_started_at = coalesce(dial_job_started_at, $6), updated_at = now()
    WHERE id = (SELECT id FROM lead) AND EXISTS (SELECT FROM claimed)
)
SELECT id, phone, current_attempt_id FROM claimed
"""
REP_PASSES_LIST = list(REP_PASSES)
OPEN_LOCKED_ROUND_BY_ORDER = {
    order: OPEN_LOCKED_ROUND.format(order=order) for order in set(ROUTING_ORDER.values())
}


async def start_round_quickly(connection: asyncpg.Connection, *, lead_id: UUID) -> Round | None:
    """start_round's common case, "started", in two statements on a connection outside any
    transaction (see app.db.autocommit_connection); None when the lead is in any other case,
    for start_round to decide in its own transaction."""
    row = await connection.fetchrow(READ_ROUND, lead_id, REP_PASSES_LIST)
    if row is None or outside_window(lead_id, row):
        return None
    xmin, _, dial_round, received_at, _, _, team, _, _, _, routing, size, passed = row
    routing = routing or "longest_idle"  # a team without its row: as lock_due_lead's
    count = (size or 1) if routing == "simultaneous" else 1
    started, group = now(), new_id()
    order = ROUTING_ORDER.get(routing, ROUTING_ORDER["longest_idle"])
    rows = await connection.fetch(
        OPEN_LOCKED_ROUND_BY_ORDER[order],
        lead_id,
        xmin,
        team,
        passed,
        count,
        started,
        started + placing_lease(),
        [new_id() for _ in range(count)],
        group,
        routing,
        received_at,
    )
    if not rows:
        return None
    calls = [RepCall(attempt_id, rep_id, phone) for rep_id, phone, attempt_id in rows]
    first_received = received_at if dial_round == 0 else None  # observability
    return Round("started", lead_id, team, calls, started, first_received)


def outside_window(lead_id: UUID, row: Any) -> bool:
    """scheduler.hold_for_window's question, on what READ_ROUND read."""
    _, phone, _, _, never_called, slug, _, policy, window_start, window_end, *_ = row
    if policy == "call_now" and never_called:
        return False
    at = now()
    source = window_source(slug, policy, window_start, window_end)
    return scheduler.window_opens(lead_id, phone, source, at) > at


@lru_cache(maxsize=1024)
def window_source(slug: str, policy: str, start: str | None, end: str | None) -> Source:
    """What the window checks read of a source, made once per source and window: never added
    to a session, only read."""
    return Source(
        slug=slug, after_hours_policy=policy, calling_window_start=start, calling_window_end=end
    )


# RECORD_PLACED and the lead's first_call_at as one statement, for a round of one call (every
# routing but simultaneous ring): the lead's other attempts are all of earlier rounds, settled
# before this one opened, so the statement's own snapshot of them is the truth and
# first_call_at is the least of theirs and this send. Run outside any transaction.
RECORD_PLACED_ALONE = """
WITH placed AS (
    UPDATE attempts
    SET rep_call_sid = coalesce(rep_call_sid, $1::varchar),
        create_sent_at = $2::timestamptz,
        sid_returned_at = $3::timestamptz,
        queue_time_ms = $4::integer,
        carrier_retries = $5::integer,
        status = coalesce(nullif(status, 'placing'), 'ringing')
    WHERE id = $6::uuid AND ended_at IS NULL
    RETURNING lead_id
), leased AS (
    UPDATE reps SET claim_expires_at = $8::timestamptz, updated_at = now()
    FROM placed
    WHERE reps.id = $7::uuid AND reps.current_attempt_id = $6::uuid
      AND reps.claim_expires_at IS NOT NULL
    RETURNING reps.id
)
UPDATE leads
SET first_call_at = least(
    (SELECT min(create_sent_at) FROM attempts WHERE lead_id = placed.lead_id AND id <> $6::uuid),
    $2::timestamptz
)
FROM placed
WHERE leads.id = placed.lead_id AND (SELECT count(*) FROM leased) >= 0
RETURNING leads.id
"""


async def record_placed_alone(
    connection: asyncpg.Connection,
    *,
    call: RepCall,
    sid: str,
    sent_at: datetime,
    queue_time_ms: int | None,
    retries: int,
    ring_timeout: int,
) -> bool:
    """dialer.record_placed for the only call of its round, as one statement on a connection
    outside any transaction."""
    at = now()
    lead = await connection.fetchval(
        RECORD_PLACED_ALONE,
        sid,
        sent_at,
        at,
        queue_time_ms,
        retries,
        call.attempt_id,
        call.rep_id,
        at + timedelta(seconds=ring_timeout) + CALLBACK_GRACE,
    )
    return lead is not None
