from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Lead, Source
from app.queue import dial_job_id
from workers.dial import dial_lead, sweep_due_dials


async def due_lead(sessions: async_sessionmaker[AsyncSession]) -> UUID:
    async with sessions() as session, session.begin():
        source = Source(slug="jobs", name="Jobs")
        session.add(source)
        await session.flush()
        lead = Lead(source_id=source.id, phone="+14155550142", phone_raw="4155550142")
        lead.dial_due_at = datetime.now(UTC)
        session.add(lead)
    return lead.id


async def test_dial_lead_runs_once_even_when_delivered_twice(
    live_client: Any, live_sessions: async_sessionmaker[AsyncSession]
) -> None:
    lead_id = await due_lead(live_sessions)
    ctx = {"sessionmaker": live_sessions}
    assert await dial_lead(ctx, str(lead_id)) == "started"
    assert await dial_lead(ctx, str(lead_id)) == "already started"
    async with live_sessions() as session:
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        assert lead.dial_due_at is None and lead.dial_job_started_at is not None
        assert lead.status == "dialing"


async def test_sweeper_reenqueues_dials_redis_lost(
    live_client: Any, live_sessions: async_sessionmaker[AsyncSession], arq_redis: ArqRedis
) -> None:
    lead_id = await due_lead(live_sessions)
    await arq_redis.flushall()
    ctx = {"sessionmaker": live_sessions, "redis": arq_redis}
    assert await sweep_due_dials(ctx) == 1
    assert await arq_redis.exists(f"arq:job:{dial_job_id(lead_id)}")
    await dial_lead(ctx, str(lead_id))
    assert await sweep_due_dials(ctx) == 0
