"""arq WorkerSettings for `firstring worker`."""

from typing import Any, ClassVar

import httpx
from arq import cron
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.carrier import build_twilio_client, close_twilio_client
from app.config import get_settings
from app.db import get_autocommit_pool, make_engine
from app.heap import settle_after_startup
from app.observability.worker import start_metrics_server  # observability
from app.queue import make_arq, redis_settings
from workers.cadence import run_step, send_email, sweep_steps
from workers.dial import (
    cancel_ring_group,
    dial_lead,
    dial_waiting,
    reconcile_silent_calls,
    sweep,
)
from workers.pickup import WorkerRedis, worker_redis
from workers.retention import purge_old_payloads
from workers.sms import send_sms
from workers.webhooks import deliver_webhooks

SWEEP_SECONDS = set(range(0, 60, 5))


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    ctx["settings"] = settings
    ctx["engine"] = make_engine(settings.database_url, pool_size=20)
    ctx["sessionmaker"] = async_sessionmaker(ctx["engine"], expire_on_commit=False)
    ctx["twilio"] = build_twilio_client(settings)
    start_metrics_server(settings.metrics_port)  # observability: METRICS_PORT, 0 = none
    ctx["webhook_http"] = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds)
    get_autocommit_pool().warm()
    settle_after_startup()  # the collector's settings: see app/heap.py


async def shutdown(ctx: dict[str, Any]) -> None:
    await close_twilio_client(ctx["twilio"])
    await ctx["webhook_http"].aclose()
    await ctx["engine"].dispose()
    await get_autocommit_pool().close()
    if isinstance(ctx["redis"], WorkerRedis) and ctx["redis"].link is not None:
        ctx["redis"].link.close()


class WorkerSettings:
    """Tuned for speed-to-lead; see README "Worker tuning" for the measurements behind them."""

    functions: ClassVar[list[Any]] = [
        dial_lead,
        dial_waiting,
        cancel_ring_group,
        deliver_webhooks,
        run_step,
        send_email,
        send_sms,
    ]
    cron_jobs: ClassVar[list[Any]] = [
        cron(sweep, second=SWEEP_SECONDS, run_at_startup=True),
        cron(sweep_steps, second=SWEEP_SECONDS, run_at_startup=True),
        # Every 10 s: a rep held by a call whose end we missed is a rep not taking leads; each
        # silent live call costs one carrier request.
        cron(reconcile_silent_calls, second=set(range(0, 60, 10))),
        # Hourly; batches commit as they go, so a run cut short by its timeout loses nothing.
        cron(purge_old_payloads, minute=17, second=0, timeout=50 * 60),
    ]
    on_startup = startup
    on_shutdown = shutdown
    # Results are not kept, so a lead's later round can reuse nothing and no key lingers.
    keep_result = 0
    job_timeout = 60


def worker_options() -> dict[str, Any]:
    settings = get_settings()
    return {
        "redis_settings": redis_settings(settings.redis_url),
        "redis_pool": worker_redis(settings.redis_url),
        # arq polls Redis for new jobs; 0.5 s by default would be most of the dial budget.
        "poll_delay": settings.worker_poll_delay_seconds,
        "max_jobs": settings.worker_max_jobs,
    }


__all__ = ["WorkerSettings", "make_arq", "worker_options"]
