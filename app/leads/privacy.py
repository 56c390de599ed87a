"""Privacy: erasing a lead's personal data on request, and not keeping raw form payloads for
longer than RAW_PAYLOAD_RETENTION_DAYS. Attempts (times, outcomes, durations, reps) stay: they
are the anonymised statistics, and /v1/stats reads them with the leads' summary columns."""

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, case, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncSession

from app.cadences import scheduler
from app.errors import Conflict, NotFound
from app.models import Attempt, CallEvent, Event, IntakeClaim, Lead, Message, WebhookDelivery
from app.webhooks.schemas import EventType
from app.webhooks.service import emit

ERASED_PHONE_PREFIX = "erased:"
ERASED = "(erased)"
# What a stored status callback keeps once its lead is erased: how the call went, never who
# was on it (From, To, Called, Caller, CallerName, ForwardedFrom and the *City/*Zip fields go).
CALL_EVENT_KEYS_KEPT = frozenset(
    {
        "AccountSid",
        "AnsweredBy",
        "ApiVersion",
        "CallDuration",
        "CallSid",
        "CallStatus",
        "CallbackSource",
        "DialCallDuration",
        "DialCallSid",
        "DialCallStatus",
        "Digits",
        "Direction",
        "MachineDetectionDuration",
        "ParentCallSid",
        "SequenceNumber",
        "SipResponseCode",
        "Timestamp",
    }
)
# The callback parameters that name a number or a person, for finding the ones to scrub.
CALL_EVENT_PERSONAL_KEYS = ["From", "To", "Called", "Caller", "CallerName", "ForwardedFrom"]
PURGE_BATCH = 1000


def erased_data(lead_id: UUID) -> dict[str, Any]:
    return {"lead_id": str(lead_id), "erased": True}


async def erase_lead(session: AsyncSession, *, lead_id: UUID) -> Lead:
    """Erase the lead's personal data wherever FirstRing keeps it; repeating it changes nothing.

    The lead row is locked first, so no dial round can start (or end) halfway through.
    """
    lead = await session.scalar(select(Lead).where(Lead.id == lead_id).with_for_update())
    if lead is None:
        raise NotFound(f"No lead {lead_id}.", field="lead_id")
    if lead.erased_at is not None:
        return lead
    if lead.live_ring_group is not None:
        # The call's callbacks would hand the lead on (and dial it again) after the erasure.
        raise Conflict(
            f"Lead {lead_id} is being called right now; erase it once the call has ended.",
            field="lead_id",
            code="lead_in_call",
        )
    await release_intake_claims(session, lead)
    await scheduler.stop_cadence(session, lead, reason="lead erased")
    erase_lead_columns(lead)
    await erase_events(session, lead_id)
    await scrub_call_events(session, lead_id)
    await scrub_messages(session, lead_id)
    # Integrators hold copies of the lead (earlier events): tell them to erase theirs.
    await emit(session, type=EventType.lead_erased, data=erased_data(lead_id), lead_id=lead_id)
    await session.flush()
    await session.refresh(lead)
    return lead


def erase_lead_columns(lead: Lead) -> None:
    """Personal data goes; the call summary the stats read stays. No dial is owed any more."""
    now = datetime.now(UTC)
    # Random, not a hash: a phone number has too few digits for a hash to hide it.
    lead.phone = ERASED_PHONE_PREFIX + secrets.token_hex(6)
    lead.phone_raw = ""
    lead.first_name = lead.last_name = lead.full_name = lead.email = None
    lead.fields = {}
    lead.idempotency_key = None
    lead.status, lead.dial_due_at = "erased", None
    lead.erased_at = now
    lead.fields_purged_at = lead.fields_purged_at or now


async def release_intake_claims(session: AsyncSession, lead: Lead) -> None:
    """The claims name the phone and the Idempotency-Key; found by primary key, and only
    while this lead still holds them."""
    keys = [f"phone:{lead.phone}"]
    if lead.idempotency_key:
        keys.append(f"idempotency:{lead.idempotency_key}")
    await session.execute(
        delete(IntakeClaim).where(
            IntakeClaim.source_id == lead.source_id,
            IntakeClaim.claim_key.in_(keys),
            IntakeClaim.lead_id == lead.id,
        )
    )


async def erase_events(session: AsyncSession, lead_id: UUID) -> None:
    """Events keep their type and time (the lead's history); owed deliveries of them are
    canceled, so no copy of the personal data leaves after the erasure."""
    events = select(Event.id).where(Event.lead_id == lead_id)
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.event_id.in_(events), WebhookDelivery.status == "pending")
        .values(status="canceled", last_error="canceled: the lead was erased")
    )
    await session.execute(
        update(Event).where(Event.lead_id == lead_id).values(data=erased_data(lead_id))
    )


async def scrub_messages(session: AsyncSession, lead_id: UUID) -> None:
    """Texts and emails to, from and about the lead (a reply forwarded to its rep) keep only
    their channel, direction, status and times; our own sender numbers and addresses stay."""
    await session.execute(
        update(Message)
        .where(Message.lead_id == lead_id)
        .values(
            body="",
            subject=None,
            to_addr=case(
                (and_(Message.direction == "out", Message.rep_id.is_(None)), ERASED),
                else_=Message.to_addr,
            ),
            from_addr=case((Message.direction == "in", ERASED), else_=Message.from_addr),
        )
    )


async def scrub_call_events(session: AsyncSession, lead_id: UUID) -> None:
    """Status callbacks carry the lead's number (To of the lead's leg, Called, ...)."""
    attempts = select(Attempt.id).where(Attempt.lead_id == lead_id)
    stored = await session.scalars(select(CallEvent).where(CallEvent.attempt_id.in_(attempts)))
    for event in stored:
        scrub(event)


def scrub(event: CallEvent) -> None:
    event.payload = {k: v for k, v in event.payload.items() if k in CALL_EVENT_KEYS_KEPT}


async def scrub_late_call_events(session: AsyncSession) -> int:
    """The carrier may repeat a callback after the erasure (its retries, a delayed report):
    stored anew, it brings the number back. The retention job scrubs those too."""
    late = await session.scalars(
        select(CallEvent)
        .join(Attempt, Attempt.id == CallEvent.attempt_id)
        .join(Lead, Lead.id == Attempt.lead_id)
        .where(
            Lead.erased_at.is_not(None),
            CallEvent.received_at >= Lead.erased_at,
            CallEvent.payload.has_any(array(CALL_EVENT_PERSONAL_KEYS)),
        )
        .limit(PURGE_BATCH)
    )
    events = list(late)
    for event in events:
        scrub(event)
    return len(events)


async def purge_raw_payloads(session: AsyncSession, *, older_than: timedelta) -> int:
    """Empty the form fields of up to PURGE_BATCH leads received before `older_than` ago;
    returns how many. Phone, names and email stay: they are the lead itself."""
    due = (
        select(Lead.id)
        .where(Lead.fields_purged_at.is_(None), Lead.received_at < func.now() - older_than)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)  # a lead being dialed right now waits for next time
    )
    purged = await session.execute(
        update(Lead)
        .where(Lead.id.in_(due.scalar_subquery()))
        .values(fields=text("'{}'::jsonb"), fields_purged_at=func.now())
        .execution_options(synchronize_session=False)
    )
    count: int = purged.rowcount  # type: ignore[attr-defined]
    return count
