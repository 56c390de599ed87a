"""Where each lead stands in its follow-up cadence, and which touch it is owed next.

A lead's first call is the intake's own dial. Every later touch is a `LeadStep` row with a due
time, which is the truth; a deferred arq job is only its wake-up, and the sweeper catches any
that Redis lost. A lead has at most one live step (a unique index says so): the next one is
planned only when the previous has fired (SMS, email) or its call has ended, so nothing fires
twice.

Progress is the `delay_minutes` of the last step fired; the next step is the first with a
larger delay. Editing a cadence re-plans the pending steps against that progress in the edit's
own transaction, while planners hold a share lock on the cadence row, so an edit neither skips
nor repeats a step.

Locks are taken in one order, cadence, then lead, then step, so planners, the step runner and
an edit never wait on each other in a circle.
"""

from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.cadences import windows
from app.config import get_settings
from app.models import Cadence, CadenceStep, Lead, LeadStep, Source, Team, new_id
from app.queue import STEPS_PLANNED
from app.webhooks.schemas import EventType
from app.webhooks.service import emit, lead_data

# A lead in one of these is never called or texted again by the cadence.
CLOSED_STATUSES = frozenset({"converted", "lost", "closed", "opted_out", "do_not_call", "erased"})
# What a rep keyed after the call that ends the follow-up ("call back later" keeps it going).
STOPPING_DISPOSITIONS = frozenset({"interested", "not_interested", "wrong_number"})
ENDED_STATES = frozenset({"stopped", "done"})


def now() -> datetime:
    return datetime.now(UTC)


def minutes(count: int) -> timedelta:
    return timedelta(minutes=count)


def has_ended(lead: Lead) -> bool:
    return lead.status in CLOSED_STATUSES or lead.cadence_state in ENDED_STATES


async def lock_cadence_for(session: AsyncSession, lead: Lead) -> Cadence | None:
    """The lead's own cadence, else its source's, else the default; one that was deleted
    meanwhile is passed over. Share-locked: an edit waits until this transaction commits."""
    source = await session.get(Source, lead.source_id)
    for cadence_id in (lead.cadence_id, source.cadence_id if source else None):
        if cadence_id is not None and (cadence := await share_lock_cadence(session, cadence_id)):
            return cadence
    default = await session.scalar(select(Cadence.id).where(Cadence.is_default.is_(True)))
    return await share_lock_cadence(session, default) if default else None


async def share_lock_cadence(session: AsyncSession, cadence_id: UUID) -> Cadence | None:
    return await session.scalar(
        select(Cadence)
        .where(Cadence.id == cadence_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )


async def steps_of(session: AsyncSession, cadence_id: UUID) -> list[CadenceStep]:
    rows = await session.scalars(
        select(CadenceStep)
        .where(CadenceStep.cadence_id == cadence_id)
        .order_by(CadenceStep.delay_minutes, CadenceStep.position)
        .execution_options(populate_existing=True)
    )
    return list(rows)


def initial_progress(steps: list[CadenceStep]) -> int:
    """The intake's dial is the cadence's call at minute 0; anything else at 0 is still owed."""
    return 0 if any(s.delay_minutes == 0 and s.channel == "call" for s in steps) else -1


def next_step(steps: list[CadenceStep], progress: int) -> CadenceStep | None:
    return next((step for step in steps if step.delay_minutes > progress), None)


def step_due(lead: Lead, step: CadenceStep, progress: int, anchor: datetime) -> datetime:
    """On schedule from the lead's arrival; when behind it (a long wait for a rep), the same
    spacing after the previous touch instead of a burst of overdue touches."""
    on_schedule = lead.received_at + minutes(step.delay_minutes)
    spaced = anchor + minutes(step.delay_minutes - max(progress, 0))
    return max(on_schedule, spaced)


async def live_step(session: AsyncSession, lead_id: UUID) -> LeadStep | None:
    return await session.scalar(
        select(LeadStep).where(
            LeadStep.lead_id == lead_id,
            LeadStep.status == "pending",
            LeadStep.kind != "ack",
        )
    )


async def plan_next(session: AsyncSession, lead: Lead, *, anchor: datetime) -> LeadStep | None:
    """Plan the lead's next touch after the one that fired or ended at `anchor`."""
    if has_ended(lead):
        return None
    planned = await live_step(session, lead.id)
    if planned is not None:
        return planned
    cadence = await lock_cadence_for(session, lead)
    if cadence is None:
        lead.cadence_state = "done"
        return None
    lead.cadence_id = cadence.id
    steps = await steps_of(session, cadence.id)
    if lead.cadence_offset is None:
        lead.cadence_offset = initial_progress(steps)
    while (step := next_step(steps, lead.cadence_offset)) is not None:
        lead.cadence_state = "active"
        planned = await add_step(
            session,
            lead,
            kind="step",
            channel=step.channel,
            due=step_due(lead, step, lead.cadence_offset, anchor),
            cadence_id=cadence.id,
            step_id=step.id,
            delay=step.delay_minutes,
        )
        if planned.status == "pending":
            return planned
        lead.cadence_offset = step.delay_minutes  # never possible for this lead: go on
    return await plan_nurture(session, lead, cadence, anchor)


def nurture_days(cadence: Cadence) -> int:
    if cadence.nurture_every_days is None:
        return get_settings().nurture_every_days
    return cadence.nurture_every_days


async def plan_nurture(
    session: AsyncSession, lead: Lead, cadence: Cadence, anchor: datetime
) -> LeadStep | None:
    """After the last step: a slow touch every few days, SMS and email in turn."""
    every = nurture_days(cadence)
    if every <= 0 or lead.nurture_count >= cadence.nurture_max_touches:
        lead.cadence_state = "done"
        return None
    lead.cadence_state = "nurture"
    channel = "sms" if lead.nurture_count % 2 == 0 else "email"
    planned = await add_step(
        session,
        lead,
        kind="nurture",
        channel=channel,
        due=anchor + timedelta(days=every),
        cadence_id=cadence.id,
        delay=lead.cadence_offset or 0,
    )
    if planned.status != "pending":
        lead.cadence_state = "done"
        return None
    return planned


async def allowed_time(session: AsyncSession, lead: Lead, channel: str, due: datetime) -> datetime:
    """Calls and texts only inside the lead's local window (calls also on the team's shift);
    email has no hours. NoOpening when no hours ever fit."""
    if channel == "email":
        return due
    source = await session.get(Source, lead.source_id)
    assert source is not None
    shift = None
    if channel == "call":
        shift = windows.shift_of(await session.get(Team, source.team))
    return opening(lead.id, lead.phone, source, due, shift)


def opening(
    lead_id: UUID, phone: str, source: Source, at: datetime, shift: windows.Shift | None = None
) -> datetime:
    """`at` if the lead may be called then, else the next opening, spread per lead."""
    settings = get_settings()
    return windows.when_allowed(
        phone,
        at,
        window=windows.lead_window(phone, source, settings),
        shift=shift,
        lead_id=lead_id,
        spread_minutes=settings.window_spread_minutes,
    )


def no_hours(exc: windows.NoOpening) -> str:
    return f"no calling hours for this number: {exc}"


async def add_step(
    session: AsyncSession,
    lead: Lead,
    *,
    kind: str,
    channel: str,
    due: datetime,
    cadence_id: UUID | None = None,
    step_id: UUID | None = None,
    delay: int = 0,
) -> LeadStep:
    status, result = "pending", None
    try:
        if kind != "ack":  # the after-hours acknowledgement answers a request made just now
            due = await allowed_time(session, lead, channel, due)
    except windows.NoOpening as exc:  # kept, skipped, so the timeline says why
        status, result = "skipped", no_hours(exc)
    step = LeadStep(
        id=new_id(),
        lead_id=lead.id,
        cadence_id=cadence_id,
        step_id=step_id,
        kind=kind,
        channel=channel,
        delay_minutes=delay,
        due_at=due,
        status=status,
        result=result,
        created_at=now(),
    )
    session.add(step)
    await session.flush()
    if status == "pending":
        wake_after_commit(session, step)
    return step


def wake_after_commit(session: AsyncSession, step: LeadStep) -> None:
    session.info.setdefault(STEPS_PLANNED, []).append((step.id, step.due_at))


async def touch_ended(session: AsyncSession, lead: Lead) -> None:
    """A call touch is over, reached or not: stop on the rep's word, else plan what is next."""
    if has_ended(lead):
        return
    if lead.disposition in STOPPING_DISPOSITIONS:
        await stop_cadence(session, lead, reason=f"disposition: {lead.disposition}")
        return
    await plan_next(session, lead, anchor=now())


async def stop_cadence(session: AsyncSession, lead: Lead, *, reason: str) -> None:
    """No more touches for this lead: pending steps are canceled and an owed call withdrawn."""
    lead.cadence_state, lead.cadence_stop_reason = "stopped", reason
    await session.execute(
        update(LeadStep)
        .where(LeadStep.lead_id == lead.id, LeadStep.status == "pending")
        .values(status="canceled", result=reason, updated_at=func.now())
    )
    if lead.live_ring_group is None:
        lead.dial_due_at = None


async def refuse_listed_number(session: AsyncSession, lead: Lead) -> None:
    """Checked before every call and every SMS: a number on the do-not-call list is never
    touched again, whatever else is owed, and integrators hear of it."""
    lead.status = "do_not_call"
    await stop_cadence(session, lead, reason="do_not_call")
    data = {**lead_data(lead), "reason": "do_not_call"}
    await emit(session, type=EventType.lead_opted_out, data=data, lead_id=lead.id)


async def opt_out(session: AsyncSession, lead: Lead, *, reason: str) -> None:
    """The person asked to hear no more (STOP, unsubscribe): at once, on every channel."""
    if lead.opted_out_at is not None:
        return
    lead.opted_out_at, lead.status = now(), "opted_out"
    await stop_cadence(session, lead, reason=f"opted out: {reason}")
    data = {**lead_data(lead), "reason": reason}
    await emit(session, type=EventType.lead_opted_out, data=data, lead_id=lead.id)


async def opt_in(session: AsyncSession, lead: Lead) -> None:
    """Opted back in (START): the follow-up resumes where the opt-out stopped it."""
    if lead.opted_out_at is None:
        return
    lead.opted_out_at = None
    if lead.status == "opted_out":
        lead.status = "unreached"
    if lead.cadence_state == "stopped" and (lead.cadence_stop_reason or "").startswith("opted out"):
        lead.cadence_state, lead.cadence_stop_reason = "active", None
        await plan_next(session, lead, anchor=now())


# The first step after each lead's progress under the edited steps, with its due time kept on
# the same footing as step_due. Runs in the edit's transaction, which holds the cadence row.
REPLAN_STEPS = text(
    """
    UPDATE lead_steps AS s
    SET step_id = n.id, channel = n.channel, delay_minutes = n.delay_minutes,
        due_at = greatest(
            l.received_at + n.delay_minutes * interval '1 minute',
            s.created_at + (n.delay_minutes - greatest(l.cadence_offset, 0)) * interval '1 minute'
        ),
        updated_at = now()
    FROM leads AS l
    CROSS JOIN LATERAL (
        SELECT c.id, c.channel, c.delay_minutes FROM cadence_steps AS c
        WHERE c.cadence_id = :cadence_id AND c.delay_minutes > coalesce(l.cadence_offset, -1)
        ORDER BY c.delay_minutes, c.position LIMIT 1
    ) AS n
    WHERE s.cadence_id = :cadence_id AND s.status = 'pending' AND s.kind = 'step'
      AND l.id = s.lead_id
    """
)
# Leads past the last step of the edited cadence go on to its nurture track, or stop.
NO_STEP_LEFT = """
    FROM leads AS l
    WHERE s.cadence_id = :cadence_id AND s.status = 'pending' AND s.kind = 'step'
      AND l.id = s.lead_id
      AND NOT EXISTS (
        SELECT 1 FROM cadence_steps AS c
        WHERE c.cadence_id = :cadence_id AND c.delay_minutes > coalesce(l.cadence_offset, -1)
      )
"""
TO_NURTURE = text(
    """
    UPDATE lead_steps AS s
    SET kind = 'nurture', step_id = NULL, channel = 'sms',
        due_at = s.created_at + :every_days * interval '1 day', updated_at = now()
    """
    + NO_STEP_LEFT
)
CANCEL_LEFT_OVER = text(
    "UPDATE lead_steps AS s SET status = 'canceled', result = :reason, updated_at = now()"
    + NO_STEP_LEFT
)


async def reschedule_cadence(session: AsyncSession, cadence_id: UUID) -> int:
    """Re-plan the pending steps of every lead following an edited cadence.

    Call it in the edit's transaction, after locking the cadence row FOR UPDATE and replacing
    its steps. A step the edit moved outside a lead's calling hours is moved again when it
    fires. After a cadence is deleted nothing needs doing here: its leads' pending steps find
    it gone when they fire and go on with the source's or the default cadence.
    """
    cadence = await session.get(Cadence, cadence_id)
    if cadence is None:
        return 0
    params = {"cadence_id": cadence_id}
    replanned = (await session.execute(REPLAN_STEPS, params)).rowcount  # type: ignore[attr-defined]
    every = nurture_days(cadence)
    if every > 0:
        await session.execute(TO_NURTURE, {**params, "every_days": every})
    else:
        await session.execute(
            CANCEL_LEFT_OVER, {**params, "reason": "cadence edited: no steps left"}
        )
    return int(replanned)


def first_call_due(lead_id: UUID, phone: str, source: Source, at: datetime) -> datetime:
    """When a new lead's first call is owed: now, unless it arrived outside its calling hours
    and the source waits for them (its default). Team hours do not hold the first call back:
    with no rep on duty the lead simply waits for one."""
    if source.after_hours_policy == "call_now":
        return at
    return window_opens(lead_id, phone, source, at)


def window_opens(lead_id: UUID, phone: str, source: Source, at: datetime) -> datetime:
    """`at` inside the lead's calling window, else its next opening (spread per lead)."""
    try:
        return opening(lead_id, phone, source, at)
    except windows.NoOpening:  # a number no hours fit: the person did ask to be called
        return at


async def acknowledge_after_hours(session: AsyncSession, lead: Lead, source: Source) -> None:
    """The person asked to be called and will be, in the morning: an SMS says so right away."""
    if source.sms_allowed:
        await add_step(session, lead, kind="ack", channel="sms", due=lead.received_at)


async def hold_for_window(session: AsyncSession, lead: Lead) -> bool:
    """Checked before every round of a dial: a lead whose calling hours closed meanwhile (it
    waited for a rep past 21:00, a follow-up call ran late) waits for them to open again. Only
    the first call of a source that calls at any hour (`call_now`) goes ahead regardless."""
    source = await session.get(Source, lead.source_id)
    assert source is not None
    if source.after_hours_policy == "call_now" and lead.first_call_at is None:
        return False
    at = now()
    opens = window_opens(lead.id, lead.phone, source, at)
    if opens <= at:
        return False
    lead.dial_due_at, lead.status = opens, "waiting"
    return True
