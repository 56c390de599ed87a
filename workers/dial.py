"""The dial job and the sweeper that re-enqueues dials Redis lost."""

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Lead
from app.queue import enqueue_dial

log = logging.getLogger(__name__)

SWEEP_BATCH = 500


def sessions(ctx: dict[str, Any]) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = ctx["sessionmaker"]
    return maker


async def dial_lead(ctx: dict[str, Any], lead_id: str) -> str:
    """Take the lead off the due list and record that its dial started.

    Safe to run twice: only the run that clears dial_due_at goes on.
    """
    async with sessions(ctx)() as session, session.begin():
        started = await session.scalar(
            update(Lead)
            .where(Lead.id == UUID(lead_id), Lead.dial_due_at.is_not(None))
            .values(dial_due_at=None, dial_job_started_at=datetime.now(UTC), status="dialing")
            .returning(Lead.id)
        )
    return "started" if started else "already started"


async def sweep_due_dials(ctx: dict[str, Any]) -> int:
    """Re-enqueue every lead still owed a dial; the job id makes a live job a no-op."""
    async with sessions(ctx)() as session:
        due = list(
            await session.scalars(
                select(Lead.id)
                .where(Lead.dial_due_at <= datetime.now(UTC))
                .order_by(Lead.dial_due_at)
                .limit(SWEEP_BATCH)
            )
        )
    for lead_id in due:
        await enqueue_dial(ctx["redis"], lead_id)
    return len(due)
