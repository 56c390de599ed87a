"""The sweeper and the calls-per-second limiter, against real Postgres and Redis."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from arq.connections import ArqRedis
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls.limiter import LIMITER_KEY, wait_for_call_slot
from app.models import Attempt, Lead, Rep, Source
from app.queue import dial_job_id
from workers.dial import sweep


async def seed_lead(sessions: async_sessionmaker[AsyncSession], **lead: Any) -> tuple[UUID, UUID]:
    async with sessions() as session, session.begin():
        source = Source(slug="sweep", name="Sweep")
        session.add(source)
        await session.flush()
        row = Lead(source_id=source.id, phone="+14155550142", phone_raw="x", **lead)
        session.add(row)
    return row.id, source.id


async def test_sweeper_reenqueues_dials_redis_lost(
    live_client: AsyncClient, live_sessions: async_sessionmaker[AsyncSession], arq_redis: ArqRedis
) -> None:
    lead_id, _ = await seed_lead(live_sessions, dial_due_at=datetime.now(UTC))
    await arq_redis.flushall()
    assert await sweep({"sessionmaker": live_sessions, "redis": arq_redis}) == 1
    assert await arq_redis.exists(f"arq:job:{dial_job_id(lead_id)}")


async def test_waiting_leads_get_one_drain_job_per_team(
    live_client: AsyncClient, live_sessions: async_sessionmaker[AsyncSession], arq_redis: ArqRedis
) -> None:
    await seed_lead(live_sessions, dial_due_at=datetime.now(UTC), status="waiting")
    await sweep({"sessionmaker": live_sessions, "redis": arq_redis})
    queued = await arq_redis.queued_jobs()
    dials = [(job.function, job.args) for job in queued if job.function.startswith("dial")]
    assert dials == [("dial_waiting", ("default",))]


async def test_a_claim_that_never_placed_its_call_is_released(
    live_client: AsyncClient, live_sessions: async_sessionmaker[AsyncSession], arq_redis: ArqRedis
) -> None:
    """A worker killed between claiming a rep and calls.create leaves this behind."""
    now = datetime.now(UTC)
    group = uuid4()
    lead_id, _ = await seed_lead(live_sessions, status="dialing", live_ring_group=group)
    async with live_sessions() as session, session.begin():
        # Away, so a running worker cannot offer the re-queued lead to this rep again.
        rep = Rep(name="R", phone="+14155550101", call_state="ringing", availability="away")
        session.add(rep)
        await session.flush()
        attempt = Attempt(
            lead_id=lead_id,
            rep_id=rep.id,
            ring_group=group,
            routing="longest_idle",
            webhook_received_at=now,
            created_at=now,
        )
        session.add(attempt)
        await session.flush()
        rep.current_attempt_id, rep.claim_expires_at = attempt.id, now - timedelta(seconds=1)
    await sweep({"sessionmaker": live_sessions, "redis": arq_redis})
    async with live_sessions() as session:
        failed = await session.get(Attempt, attempt.id)
        freed = await session.get(Rep, rep.id)
        lead = await session.get(Lead, lead_id)
    assert failed and failed.outcome == "failed" and failed.error == "no word from the carrier"
    assert freed and freed.call_state == "idle" and freed.current_attempt_id is None
    assert lead and lead.live_ring_group is None and lead.dial_due_at is not None
    assert await arq_redis.exists(f"arq:job:{dial_job_id(lead_id, lead.dial_round)}")


async def test_the_limiter_spaces_calls_across_callers(arq_redis: ArqRedis) -> None:
    await arq_redis.delete(LIMITER_KEY)
    waits = await asyncio.gather(*(wait_for_call_slot(arq_redis, 20) for _ in range(6)))
    spacing = sorted(waits)
    assert spacing[0] < 0.02
    assert all(0.03 < b - a < 0.07 for a, b in zip(spacing, spacing[1:], strict=False))


async def test_the_limiter_lets_calls_through_when_redis_is_down() -> None:
    from app.queue import close_arq, make_arq

    dead = make_arq("redis://127.0.0.1:1")
    try:
        assert await wait_for_call_slot(dead, 1) == 0.0
    finally:
        await close_arq(dead)
