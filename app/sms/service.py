"""SMS out: queued as a row in the caller's transaction, sent after the commit at most once, and
kept up to date by the carrier's status callbacks."""

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.base.exceptions import TwilioRestException

from app.calls.dialer import is_ambiguous, is_retryable
from app.config import Settings
from app.dnc.service import is_do_not_call
from app.messaging import claim_for_sending
from app.models import Lead, Message, Source

log = logging.getLogger(__name__)

# How the carrier's statuses follow each other; a callback never moves a message back.
STATUS_ORDER = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3}
CALLBACK_STATUSES = frozenset({"sent", "delivered", "undelivered", "failed"})
BODY_LIMIT = 1600  # Twilio refuses longer bodies (error 21617)


def sms_sender(source: Source, settings: Settings) -> str:
    return source.sms_from or source.caller_id or settings.caller_id


async def queue_sms(
    session: AsyncSession,
    *,
    lead: Lead,
    to: str,
    from_: str,
    body: str,
    lead_step_id: UUID | None = None,
    rep_id: UUID | None = None,
) -> Message:
    """The SMS as a queued row in the caller's transaction; `send_queued_sms` sends it once
    that transaction has committed."""
    message = Message(
        lead_id=lead.id,
        rep_id=rep_id,
        lead_step_id=lead_step_id,
        channel="sms",
        direction="out",
        to_addr=to,
        from_addr=from_,
        body=body[:BODY_LIMIT],
        status="queued",
    )
    session.add(message)
    await session.flush()
    return message


@dataclass(frozen=True)
class Outgoing:
    to: str
    from_: str
    body: str
    refusal: str | None  # why it must not be sent after all


async def send_queued_sms(
    twilio: Any,
    sessions: async_sessionmaker[AsyncSession],
    *,
    message_id: UUID,
    settings: Settings,
) -> str:
    """Send a queued SMS once and return its status. Claiming the row first ("sending") makes
    a second run send nothing. A carrier that refused before creating anything (429, 5xx, no
    connection) puts it back to "queued" for a retry; one that did not answer leaves it
    "sending", because texting twice is worse than not knowing, and the status callback (its
    URL names the row) still says what happened."""
    outgoing = await claim(sessions, message_id=message_id)
    if outgoing is None:
        async with sessions() as session:
            current = await session.scalar(select(Message.status).where(Message.id == message_id))
        return current or "missing"
    if outgoing.refusal:
        return await settle(sessions, message_id, status="failed", error=outgoing.refusal)
    callback = f"{settings.public_base_url.rstrip('/')}/twilio/sms/status?message={message_id}"
    try:
        created = await twilio.messages.create_async(
            to=outgoing.to, from_=outgoing.from_, body=outgoing.body, status_callback=callback
        )
    except Exception as exc:
        return await settle_refused(sessions, message_id, exc)
    return await record_sent(sessions, message_id, sid=created.sid)


async def claim(sessions: async_sessionmaker[AsyncSession], *, message_id: UUID) -> Outgoing | None:
    async with sessions() as session, session.begin():
        message = await claim_for_sending(session, message_id=message_id, channel="sms")
        if message is None:
            return None
        lead = await session.get(Lead, message.lead_id) if message.lead_id else None
        refusal = await refusal_for(session, message, lead)
    return Outgoing(message.to_addr, message.from_addr, message.body, refusal)


async def refusal_for(session: AsyncSession, message: Message, lead: Lead | None) -> str | None:
    """Checked again at send time: the person may have replied STOP since it was queued."""
    if await is_do_not_call(session, phone=message.to_addr):
        return "The number is on the do-not-call list."
    texts_the_lead = lead is not None and message.rep_id is None and lead.phone == message.to_addr
    if texts_the_lead and lead is not None and lead.opted_out_at is not None:
        return "The lead opted out before the SMS was sent."
    return None


async def settle_refused(
    sessions: async_sessionmaker[AsyncSession], message_id: UUID, exc: Exception
) -> str:
    if is_retryable(exc):
        log.warning("SMS %s not taken by the carrier, will retry: %s", message_id, exc)
        return await settle(sessions, message_id, status="queued", error=carrier_error(exc))
    if isinstance(exc, TwilioRestException):
        return await settle(sessions, message_id, status="failed", error=carrier_error(exc))
    if is_ambiguous(exc):
        log.warning("SMS %s: no answer from the carrier: %s", message_id, exc)
        error = f"No answer from the carrier ({carrier_error(exc)}); it may have been sent."
        return await settle(sessions, message_id, status="sending", error=error)
    raise exc


def carrier_error(exc: Exception) -> str:
    if isinstance(exc, TwilioRestException):
        return f"{exc.code}: {exc.msg}" if exc.code else f"HTTP {exc.status}: {exc.msg}"
    return str(exc) or type(exc).__name__


async def settle(
    sessions: async_sessionmaker[AsyncSession], message_id: UUID, *, status: str, error: str
) -> str:
    async with sessions() as session, session.begin():
        await session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status == "sending")
            .values(status=status, error=error, updated_at=func.now())
        )
    return status


async def record_sent(
    sessions: async_sessionmaker[AsyncSession], message_id: UUID, *, sid: str
) -> str:
    """Store the SID at once. A status callback may have been quicker: it keeps its status."""
    async with sessions() as session, session.begin():
        status = await session.scalar(
            update(Message)
            .where(Message.id == message_id)
            .values(
                provider_id=sid,
                status=case(
                    (Message.status.in_(("queued", "sending")), "sent"), else_=Message.status
                ),
                updated_at=func.now(),
            )
            .returning(Message.status)
        )
    return status or "missing"


async def record_status(
    session: AsyncSession, *, message_id: UUID, params: dict[str, str]
) -> Message | None:
    """Apply a status callback; None when it changes nothing (unknown message, a status it
    already passed, another message's SID)."""
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if status not in CALLBACK_STATUSES:
        return None
    message = await session.scalar(
        select(Message)
        .where(Message.id == message_id, Message.channel == "sms", Message.direction == "out")
        .with_for_update()
    )
    sid = params.get("MessageSid") or params.get("SmsSid")
    if message is None or (message.provider_id and sid and message.provider_id != sid):
        return None
    if message.provider_id is None and sid:  # the callback beat the create's answer
        message.provider_id = sid
    if STATUS_ORDER[status] <= STATUS_ORDER.get(message.status, 3):
        return None
    message.status = status
    if params.get("ErrorCode"):
        message.error = params["ErrorCode"]
    elif status in ("sent", "delivered"):
        message.error = None
    await session.flush()
    return message
