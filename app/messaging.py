"""Outgoing texts and emails share one rule: a queued message is sent once."""

from uuid import UUID

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Message


async def claim_for_sending(
    session: AsyncSession, *, message_id: UUID, channel: str
) -> Message | None:
    """Move a queued outgoing message to `sending`; None when it is not queued any more (a
    repeated job, or one another worker took): the caller then sends nothing."""
    message: Message | None = await session.scalar(
        update(Message)
        .where(
            Message.id == message_id,
            Message.status == "queued",
            Message.channel == channel,
            Message.direction == "out",
        )
        .values(status="sending", updated_at=func.now())
        .returning(Message)
    )
    return message
