"""Redis carries wake-ups only: every job here is also owed by a row in Postgres."""

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from app.redis_link import RedisLink, Script

log = logging.getLogger(__name__)

# A dead Redis must not hold a form submission hostage; the sweeper re-enqueues from Postgres.
ENQUEUE_TIMEOUT_SECONDS = 0.5
# Set on a session whose transaction wrote outbound events (see app.webhooks.service.emit).
EVENTS_EMITTED = "firstring_events_emitted"
# session.info key: cadence steps planned in the transaction, as (step id, due time).
STEPS_PLANNED = "firstring_steps_planned"


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


class LinkedArqRedis(ArqRedis):
    """arq's client, with a RedisLink for the scripts every request runs (see run_script)."""

    link: RedisLink | None = None


def make_arq(url: str) -> LinkedArqRedis:
    """A lazily connecting pool: creating it never fails, so the API starts while Redis is down."""
    pool = ConnectionPool.from_url(
        url,
        socket_connect_timeout=ENQUEUE_TIMEOUT_SECONDS,
        socket_timeout=ENQUEUE_TIMEOUT_SECONDS,
        max_connections=50,
    )
    arq = LinkedArqRedis(connection_pool=pool)
    if RedisLink.supports(url):
        arq.link = RedisLink(url, timeout=ENQUEUE_TIMEOUT_SECONDS)
    return arq


async def close_arq(arq: ArqRedis) -> None:
    """The pool was handed in, so closing the client alone would leave its sockets open."""
    await arq.aclose()
    await arq.connection_pool.disconnect()
    if isinstance(arq, LinkedArqRedis) and arq.link is not None:
        arq.link.close()


async def run_script(redis: Redis, script: Script, keys: list[str], args: list[Any]) -> Any:
    """The script's reply, over the client's link when it has one, else through redis-py."""
    if isinstance(redis, LinkedArqRedis) and redis.link is not None:
        return await redis.link.run_script(script, keys, args)
    return await redis.register_script(script.source)(keys=keys, args=args)


def dial_job_id(lead_id: UUID, dial_round: int = 0) -> str:
    """One job per lead and round: a repeated enqueue of the same round is a no-op."""
    return f"dial:{lead_id}:{dial_round}"


# arq's enqueue_job (WATCH, EXISTS, MULTI/EXEC: three round trips per job) as one atomic
# script for any number of jobs, with arq's own keys and job format: a form submission pays one
# Redis round trip, and so do the sweeper's hundreds of due steps. KEYS are the queue, then each
# job's two keys; ARGV is each job's expiry, body, score and id. A job id already queued for
# later is brought forward: a wake-up asks for the job no later than then (a cadence edit that
# moves a step earlier, a sweep that finds it due).
ENQUEUE_SCRIPT = Script("""
local added = 0
for i = 0, #ARGV / 4 - 1 do
  local job_key, result_key = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local expire, job, score, id = ARGV[1 + 4 * i], ARGV[2 + 4 * i], ARGV[3 + 4 * i], ARGV[4 + 4 * i]
  if redis.call('EXISTS', job_key, result_key) > 0 then
    local queued = redis.call('ZSCORE', KEYS[1], id)
    if queued and tonumber(queued) > tonumber(score) then
      redis.call('ZADD', KEYS[1], 'XX', score, id)
    end
  else
    redis.call('PSETEX', job_key, expire, job)
    redis.call('ZADD', KEYS[1], score, id)
    added = added + 1
  end
end
return added
""")
# arq's default: a job not started within a day is dropped (Postgres still owes the work).
JOB_EXPIRES_MS = 86_400_000


async def enqueue(
    arq: ArqRedis,
    function: str,
    *args: str,
    job_id: str | None = None,
    defer_seconds: float | None = None,
) -> bool:
    """Enqueue a wake-up; False when Redis could not take it (Postgres still owes the work).

    A job id already queued, running or finished-and-kept makes this a no-op, as in arq.
    """
    return await enqueue_many(arq, function, [(job_id or uuid4().hex, args, defer_seconds or 0)])


async def enqueue_many(
    arq: ArqRedis, function: str, jobs: Sequence[tuple[str, tuple[str, ...], float]]
) -> bool:
    """Enqueue (job id, args, defer seconds) wake-ups of one function in one round trip."""
    now_ms = timestamp_ms()
    keys: list[str] = [default_queue_name]
    values: list[Any] = []
    for job_id, args, defer_seconds in jobs:
        score = now_ms + round(defer_seconds * 1000)
        keys += [job_key_prefix + job_id, result_key_prefix + job_id]
        job = serialize_job(function, args, {}, None, now_ms)
        values += [score - now_ms + JOB_EXPIRES_MS, job, score, job_id]
    try:
        await run_script(arq, ENQUEUE_SCRIPT, keys, values)
    except (RedisError, OSError) as exc:
        what = f"{function}{jobs[0][1]}" if len(jobs) == 1 else f"{len(jobs)} {function} jobs"
        log.warning("%s not enqueued (%s); the sweeper will catch up", what, exc)
        return False
    return True


async def enqueue_dial(
    arq: ArqRedis, lead_id: UUID, dial_round: int = 0, *, defer_seconds: float = 0.0
) -> bool:
    """Ask a worker to dial the lead now, or when its calling hours open."""
    return await enqueue(
        arq,
        "dial_lead",
        str(lead_id),
        job_id=dial_job_id(lead_id, dial_round),
        defer_seconds=defer_seconds or None,
    )


async def enqueue_dial_waiting(arq: ArqRedis, team: str) -> bool:
    """A rep of this team just became free: give them the oldest waiting lead."""
    return await enqueue(arq, "dial_waiting", team)


async def enqueue_cancel_ring_group(arq: ArqRedis, ring_group: UUID, winner: UUID) -> bool:
    return await enqueue(arq, "cancel_ring_group", str(ring_group), str(winner))


async def enqueue_webhook_delivery(arq: ArqRedis, defer_seconds: float | None = None) -> bool:
    """Wake a sender for owed webhook deliveries, now or when the next retry falls due
    (one deferred wake-up per due second, however many senders ask for it)."""
    job_id = None
    if defer_seconds is not None:
        job_id = f"webhooks:{int(time.time() + defer_seconds)}"
    return await enqueue(arq, "deliver_webhooks", job_id=job_id, defer_seconds=defer_seconds)


async def wake_after_commit(arq: ArqRedis, session: AsyncSession) -> None:
    """After a commit: wake the workers for what that transaction made owed, events to
    deliver and cadence steps planned, rather than leave them to the sweeper."""
    if session.info.pop(EVENTS_EMITTED, False):
        await enqueue_webhook_delivery(arq)
    for step_id, due in session.info.pop(STEPS_PLANNED, []):
        await enqueue_step(arq, step_id, due)


def step_job_id(step_id: UUID) -> str:
    return f"step:{step_id}"


# Steps due later than this get no job yet: the sweeper wakes them when due. Redis then holds
# the next hour's work, not two weeks of every lead's follow-up.
STEP_DEFER_HORIZON_SECONDS = 3600.0


async def enqueue_step(arq: ArqRedis, step_id: UUID, due: datetime) -> bool:
    """A job deferred to the step's due time; the row in Postgres stays the truth."""
    return await enqueue_steps(arq, [(step_id, due)])


async def enqueue_steps(arq: ArqRedis, steps: list[tuple[UUID, datetime]]) -> bool:
    now = datetime.now(UTC)
    jobs = [
        (step_job_id(step_id), (str(step_id),), max((due - now).total_seconds(), 0.0))
        for step_id, due in steps
    ]
    soon = [job for job in jobs if job[2] <= STEP_DEFER_HORIZON_SECONDS]
    return await enqueue_many(arq, "run_step", soon) if soon else False


async def enqueue_message(arq: ArqRedis, message_id: UUID, channel: str) -> bool:
    """Send a queued SMS or email now (the job claims it, so a repeat sends nothing)."""
    function = "send_sms" if channel == "sms" else "send_email"
    return await enqueue(arq, function, str(message_id), job_id=f"{channel}:{message_id}")
