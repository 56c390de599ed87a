"""arq WorkerSettings for `firstring worker`."""

from typing import Any

from arq import cron
from arq.connections import RedisSettings
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import get_settings
from app.db import make_engine
from app.queue import redis_settings
from workers.dial import dial_lead, sweep_due_dials


async def startup(ctx: dict[str, Any]) -> None:
    ctx["engine"] = make_engine(get_settings().database_url)
    ctx["sessionmaker"] = async_sessionmaker(ctx["engine"], expire_on_commit=False)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["engine"].dispose()


def settings_for_redis() -> RedisSettings:
    return redis_settings(get_settings().redis_url)


class WorkerSettings:
    functions = [dial_lead]
    cron_jobs = [cron(sweep_due_dials, second=set(range(0, 60, 5)), run_at_startup=True)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = settings_for_redis()
    # Speed-to-lead: a job must start within milliseconds of its enqueue, not arq's default 0.5 s.
    poll_delay = 0.01
    max_jobs = 50
