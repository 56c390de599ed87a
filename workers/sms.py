"""Sending one queued SMS: from a cadence step, or a lead's reply forwarded to a rep."""

from typing import Any
from uuid import UUID

from app.sms.service import send_queued_sms
from workers.dial import sessions, settings_of


async def send_sms(ctx: dict[str, Any], message_id: str) -> str:
    """Safe to repeat: the message is claimed before it is sent, so a repeat sends nothing."""
    return await send_queued_sms(
        ctx["twilio"], sessions(ctx), message_id=UUID(message_id), settings=settings_of(ctx)
    )
