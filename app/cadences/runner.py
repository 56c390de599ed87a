"""Firing a due step: a call handed to the dialer, or an SMS or email queued for sending.

The step is claimed, the touch decided and the next step planned in one transaction; the
carrier and the mail server are reached only after it commits (see workers/cadence.py).
"""

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cadences import scheduler, templates, windows
from app.cadences.scheduler import now
from app.config import get_settings
from app.dnc.service import is_do_not_call
from app.email import service as email
from app.models import Attempt, Cadence, CadenceStep, Lead, LeadStep, Message, Rep, Source
from app.sms import service as sms

ACK_SMS = (
    "Hi {first_name}, thanks for contacting {company}. We are closed right now and will call "
    "you as soon as we open. Reply STOP to opt out."
)
# A step may fire this early or late against its window before it is moved instead.
WINDOW_SLACK = timedelta(seconds=1)


@dataclass
class Fired:
    """What the committed transaction owes: a dial to wake, a message to send."""

    dial: tuple[UUID, int] | None = None
    message: Message | None = None


async def fire_step(session: AsyncSession, *, step_id: UUID) -> Fired:
    """Fire the step if it is still pending and due; safe to run twice."""
    peek = await session.get(LeadStep, step_id)
    if peek is None or peek.status != "pending":
        return Fired()
    if peek.cadence_id is not None:  # lock order: cadence, lead, step (see scheduler)
        await scheduler.share_lock_cadence(session, peek.cadence_id)
    lead = await session.scalar(select(Lead).where(Lead.id == peek.lead_id).with_for_update())
    step = await claim(session, step_id)
    if lead is None or step is None:
        return Fired()
    step.fired_at = now()
    return await fire(session, lead, step)


async def claim(session: AsyncSession, step_id: UUID) -> LeadStep | None:
    return await session.scalar(
        select(LeadStep)
        .where(LeadStep.id == step_id, LeadStep.status == "pending", LeadStep.due_at <= now())
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


async def fire(session: AsyncSession, lead: Lead, step: LeadStep) -> Fired:
    if scheduler.has_ended(lead):
        finish(step, "canceled", lead.cadence_stop_reason or f"lead {lead.status}")
        return Fired()
    if await postponed_to_window(session, lead, step):
        return Fired()
    if step.kind == "ack":
        return await send_sms(session, lead, step, ACK_SMS)
    cadence_step = await session.get(CadenceStep, step.step_id) if step.step_id else None
    if step.kind == "step" and not is_current(lead, cadence_step):
        finish(step, "canceled", "the cadence changed")
        lead.cadence_id = None if cadence_step is None else lead.cadence_id
        await scheduler.plan_next(session, lead, anchor=now())
        return Fired()
    advance(lead, step)
    if cadence_step and cadence_step.only_if_unreached and is_reached(lead):
        finish(step, "skipped", "the lead was reached")
        await scheduler.plan_next(session, lead, anchor=now())
        return Fired()
    return await touch(session, lead, step, cadence_step)


def is_current(lead: Lead, cadence_step: CadenceStep | None) -> bool:
    """The step still exists and is still ahead of the lead (an edit re-plans pending steps in
    its own transaction, so this only fails for a cadence deleted meanwhile)."""
    progress = -1 if lead.cadence_offset is None else lead.cadence_offset
    return cadence_step is not None and cadence_step.delay_minutes > progress


def advance(lead: Lead, step: LeadStep) -> None:
    if step.kind == "nurture":
        lead.nurture_count += 1
    else:
        lead.cadence_offset = step.delay_minutes


def is_reached(lead: Lead) -> bool:
    """A rep spoke with the lead on its last call, and did not ask to call back later."""
    return lead.status in ("connecting", "connected") and lead.disposition != "call_back"


async def postponed_to_window(session: AsyncSession, lead: Lead, step: LeadStep) -> bool:
    """Checked again when firing: an edit, or a clock at the edge of the window, may have
    brought the step outside the lead's calling hours."""
    if step.kind == "ack":
        return False
    try:
        allowed = await scheduler.allowed_time(session, lead, step.channel, now())
    except windows.NoOpening as exc:
        finish(step, "skipped", scheduler.no_hours(exc))
        advance(lead, step)
        await scheduler.plan_next(session, lead, anchor=now())
        return True
    if allowed <= now() + WINDOW_SLACK:
        return False
    step.due_at, step.fired_at = allowed, None
    scheduler.wake_after_commit(session, step)
    return True


def finish(step: LeadStep, status: str, result: str) -> None:
    step.status, step.result = status, result


async def touch(
    session: AsyncSession, lead: Lead, step: LeadStep, cadence_step: CadenceStep | None
) -> Fired:
    cadence = await session.get(Cadence, step.cadence_id) if step.cadence_id else None
    if step.channel == "call":
        return await call(session, lead, step)
    if step.channel == "sms":
        template = cadence_step.template if cadence_step else None
        if step.kind == "nurture" and cadence is not None:
            template = cadence.nurture_sms_template
        fired = await send_sms(session, lead, step, template)
    else:
        fired = await send_email(session, lead, step, cadence_step, cadence)
    await scheduler.plan_next(session, lead, anchor=now())
    return fired


async def call(session: AsyncSession, lead: Lead, step: LeadStep) -> Fired:
    """The same rep-first dial as the first call; the next step is planned when it ends."""
    if lead.live_ring_group is not None or lead.dial_due_at is not None:
        finish(step, "skipped", "a call to this lead was already under way")
        return Fired()
    at = now()
    lead.dial_due_at, lead.status, lead.touch_started_at = at, "dialing", at
    lead.accepted_attempt_id = None
    finish(step, "done", "call queued")
    return Fired(dial=(lead.id, lead.dial_round))


async def blocked_number(session: AsyncSession, lead: Lead, step: LeadStep) -> bool:
    """Checked before every SMS, as before every call: a listed number ends the follow-up."""
    if not await is_do_not_call(session, phone=lead.phone):
        return False
    await scheduler.refuse_listed_number(session, lead)
    finish(step, "canceled", "the number is on the do-not-call list")
    return True


async def send_sms(
    session: AsyncSession, lead: Lead, step: LeadStep, template: str | None
) -> Fired:
    source = await session.get(Source, lead.source_id)
    assert source is not None
    if not source.sms_allowed:
        finish(step, "skipped", "the source does not allow SMS")
        return Fired()
    if not template:
        finish(step, "skipped", "no SMS text")
        return Fired()
    if await blocked_number(session, lead, step):
        return Fired()
    body = templates.render(template, await template_values(session, lead, source))
    sender = sms.sms_sender(source, get_settings())
    message = await sms.queue_sms(
        session, lead=lead, to=lead.phone, from_=sender, body=body, lead_step_id=step.id
    )
    finish(step, "done", "SMS queued")
    return Fired(message=message)


async def send_email(
    session: AsyncSession,
    lead: Lead,
    step: LeadStep,
    cadence_step: CadenceStep | None,
    cadence: Cadence | None,
) -> Fired:
    settings = get_settings()
    source = await session.get(Source, lead.source_id)
    assert source is not None
    subject, body = email_texts(step, cadence_step, cadence)
    if not email.email_configured(settings):
        finish(step, "skipped", "no SMTP server is configured")
        return Fired()
    if not (subject and body):
        finish(step, "skipped", "no email text")
        return Fired()
    values = await template_values(session, lead, source)
    message = await email.queue_email(
        session,
        lead=lead,
        from_=email.email_sender(source, settings),
        subject=templates.render(subject, values),
        body=templates.render(body, values),
        lead_step_id=step.id,
    )
    if message is None:
        finish(step, "skipped", "the lead gave no email address")
        return Fired()
    finish(step, "done", "email queued")
    return Fired(message=message)


def email_texts(
    step: LeadStep, cadence_step: CadenceStep | None, cadence: Cadence | None
) -> tuple[str | None, str | None]:
    if step.kind == "nurture":
        if cadence is None:
            return None, None
        return cadence.nurture_email_subject, cadence.nurture_email_template
    if cadence_step is None:
        return None, None
    return cadence_step.subject, cadence_step.template


async def template_values(session: AsyncSession, lead: Lead, source: Source) -> dict[str, str]:
    return templates.values_for(lead, source, await last_rep_name(session, lead.id))


async def last_rep_name(session: AsyncSession, lead_id: UUID) -> str | None:
    """The rep the lead last heard from (or was offered to), so texts come from a person."""
    name: str | None = await session.scalar(
        select(Rep.name)
        .join(Attempt, Attempt.rep_id == Rep.id)
        .where(Attempt.lead_id == lead_id)
        .order_by(Attempt.rep_accepted_at.desc().nulls_last(), Attempt.created_at.desc())
        .limit(1)
    )
    return name
