"""Redis carries wake-ups only: every job here is also owed by a row in Postgres."""

import logging
import time
from uuid import UUID

from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

# A dead Redis must not hold a form submission hostage; the sweeper re-enqueues from Postgres.
ENQUEUE_TIMEOUT_SECONDS = 0.5
# Set on a session whose transaction wrote outbound events (see app.webhooks.service.emit).
EVENTS_EMITTED = "firstring_events_emitted"


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


def make_arq(url: str) -> ArqRedis:
    """A lazily connecting pool: creating it never fails, so the API starts while Redis is down."""
    pool = ConnectionPool.from_url(
        url,
        socket_connect_timeout=ENQUEUE_TIMEOUT_SECONDS,
        socket_timeout=ENQUEUE_TIMEOUT_SECONDS,
        max_connections=50,
    )
    return ArqRedis(connection_pool=pool)


async def close_arq(arq: ArqRedis) -> None:
    """The pool was handed in, so closing the client alone would leave its sockets open."""
    await arq.aclose()
    await arq.connection_pool.disconnect()


def dial_job_id(lead_id: UUID, dial_round: int = 0) -> str:
    """One job per lead and round: a repeated enqueue of the same round is a no-op."""
    return f"dial:{lead_id}:{dial_round}"


async def enqueue(arq: ArqRedis, function: str, *args: str, job_id: str | None = None) -> bool:
    """Enqueue a wake-up; False when Redis could not take it (Postgres still owes the work)."""
    try:
        await arq.enqueue_job(function, *args, _job_id=job_id)
    except (RedisError, OSError) as exc:
        log.warning("%s%s not enqueued (%s); the sweeper will catch up", function, args, exc)
        return False
    return True


async def enqueue_dial(arq: ArqRedis, lead_id: UUID, dial_round: int = 0) -> bool:
    """Ask a worker to dial the lead now."""
    return await enqueue(arq, "dial_lead", str(lead_id), job_id=dial_job_id(lead_id, dial_round))


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
    try:
        await arq.enqueue_job("deliver_webhooks", _defer_by=defer_seconds, _job_id=job_id)
    except (RedisError, OSError) as exc:
        log.warning("webhook delivery not enqueued (%s); the sweeper will", exc)
        return False
    return True


async def wake_webhooks_if_emitted(arq: ArqRedis, session: AsyncSession) -> None:
    """After a commit: if that transaction wrote events, send them now rather than at the sweep."""
    if session.info.pop(EVENTS_EMITTED, False):
        await enqueue_webhook_delivery(arq)
