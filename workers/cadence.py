"""Follow-up jobs: fire due cadence steps, send what they queued, sweep what Redis lost."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.cadences import runner
from app.email import service as email
from app.models import LeadStep, Message
from app.queue import enqueue_dial, enqueue_message, enqueue_steps, wake_after_commit
from workers.dial import sessions, settings_of

# A message still queued this long after it was written lost its send job: send it now.
QUEUED_GRACE = timedelta(seconds=30)
# A send cut off mid-way (the worker died) may or may not have gone out; it is not sent again,
# since a second text is worse than a missing one, and says so.
SENDING_GIVE_UP = timedelta(minutes=10)


async def run_step(ctx: dict[str, Any], step_id: str) -> str:
    """Fire a due step; a repeat, or a step not yet due, does nothing."""
    async with sessions(ctx)() as session, session.begin():
        fired = await runner.fire_step(session, step_id=UUID(step_id))
    await wake_after_commit(ctx["redis"], session)
    if fired.dial is not None:
        await enqueue_dial(ctx["redis"], *fired.dial)
    if fired.message is not None:
        await enqueue_message(ctx["redis"], fired.message.id, fired.message.channel)
    return "fired" if fired.dial or fired.message else "nothing to send"


async def send_email(ctx: dict[str, Any], message_id: str) -> str:
    return await email.send_queued_email(
        sessions(ctx), message_id=UUID(message_id), settings=settings_of(ctx)
    )


async def sweep_steps(ctx: dict[str, Any]) -> int:
    """Wake due steps whose jobs Redis lost, and messages whose send job never ran."""
    batch = settings_of(ctx).cadence_sweep_batch
    async with sessions(ctx)() as session:
        due = await due_steps(session, limit=batch)
        unsent = await unsent_messages(session, limit=batch)
    await enqueue_steps(ctx["redis"], due)
    for message_id, channel in unsent:
        await enqueue_message(ctx["redis"], message_id, channel)
    async with sessions(ctx)() as session, session.begin():
        await give_up_interrupted_sends(session)
    return len(due)


async def due_steps(session: AsyncSession, *, limit: int) -> list[tuple[UUID, datetime]]:
    rows = await session.execute(
        select(LeadStep.id, LeadStep.due_at)
        .where(LeadStep.status == "pending", LeadStep.due_at <= datetime.now(UTC))
        .order_by(LeadStep.due_at)
        .limit(limit)
    )
    return [(step_id, due_at) for step_id, due_at in rows]


async def unsent_messages(session: AsyncSession, *, limit: int) -> list[tuple[UUID, str]]:
    rows = await session.execute(
        select(Message.id, Message.channel)
        .where(
            Message.status == "queued",
            Message.direction == "out",
            Message.created_at <= datetime.now(UTC) - QUEUED_GRACE,
        )
        .limit(limit)
    )
    return [(message_id, channel) for message_id, channel in rows]


async def give_up_interrupted_sends(session: AsyncSession) -> None:
    await session.execute(
        update(Message)
        .where(
            Message.status == "sending",
            Message.updated_at <= datetime.now(UTC) - SENDING_GIVE_UP,
        )
        .values(status="failed", error="the send was interrupted; not retried")
    )
