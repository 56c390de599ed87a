"""Redis carries wake-ups only: every job here is also owed by a row in Postgres."""

import logging
from uuid import UUID

from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# A dead Redis must not hold a form submission hostage; the sweeper re-enqueues from Postgres.
ENQUEUE_TIMEOUT_SECONDS = 0.5


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


def dial_job_id(lead_id: UUID) -> str:
    return f"dial:{lead_id}"


async def enqueue_dial(arq: ArqRedis, lead_id: UUID) -> bool:
    """Ask a worker to dial the lead now. False when Redis could not take it."""
    try:
        await arq.enqueue_job("dial_lead", str(lead_id), _job_id=dial_job_id(lead_id))
    except (RedisError, OSError) as exc:
        log.warning("dial job for lead %s not enqueued (%s); the sweeper will", lead_id, exc)
        return False
    return True
