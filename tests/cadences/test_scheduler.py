"""Planning a lead's next touch: progress, team shifts, edits re-planned, opt-out and back in."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cadences import scheduler
from app.models import Cadence, CadenceStep, Lead, LeadStep, Source, Team, new_id

LA_NUMBER = "+14155550142"


async def make_cadence(session: AsyncSession, *steps: tuple[int, str], nurture: int = 0) -> Cadence:
    cadence = Cadence(id=new_id(), name="Test", nurture_every_days=nurture)
    session.add(cadence)
    await session.flush()
    for position, (delay, channel) in enumerate(steps):
        template = None if channel == "call" else "Hi {first_name}"
        subject = "Hello" if channel == "email" else None
        session.add(
            CadenceStep(
                cadence_id=cadence.id,
                position=position,
                delay_minutes=delay,
                channel=channel,
                template=template,
                subject=subject,
            )
        )
    await session.flush()
    return cadence


async def make_lead(session: AsyncSession, cadence: Cadence, team: str = "default") -> Lead:
    source = Source(slug=f"s-{new_id().hex[:8]}", name="Form", team=team, cadence_id=cadence.id)
    session.add(source)
    await session.flush()
    lead = Lead(
        id=new_id(),
        source_id=source.id,
        status="unreached",
        phone=LA_NUMBER,
        phone_raw=LA_NUMBER,
        received_at=datetime.now(UTC),
    )
    session.add(lead)
    await session.flush()
    return lead


async def pending(session: AsyncSession, lead: Lead) -> LeadStep | None:
    step: LeadStep | None = await session.scalar(
        select(LeadStep)
        .where(LeadStep.lead_id == lead.id, LeadStep.status == "pending")
        .execution_options(populate_existing=True)
    )
    return step


async def test_the_first_call_counts_as_the_minute_zero_call(session: AsyncSession) -> None:
    cadence = await make_cadence(session, (0, "call"), (0 + 5, "sms"), (60, "call"))
    lead = await make_lead(session, cadence)
    await scheduler.touch_ended(session, lead)
    step = await pending(session, lead)
    assert step is not None and (step.delay_minutes, step.channel) == (5, "sms")
    assert lead.cadence_offset == 0 and lead.cadence_state == "active"
    again = await scheduler.plan_next(session, lead, anchor=datetime.now(UTC))
    assert again is not None and again.id == step.id  # one live step per lead


async def test_a_cadence_starting_with_a_text_still_sends_it(session: AsyncSession) -> None:
    cadence = await make_cadence(session, (0, "sms"), (30, "call"))
    lead = await make_lead(session, cadence)
    await scheduler.touch_ended(session, lead)
    step = await pending(session, lead)
    assert step is not None and (step.delay_minutes, step.channel) == (0, "sms")


async def test_a_call_step_waits_for_the_team_s_shift(session: AsyncSession) -> None:
    zone = ZoneInfo("America/Los_Angeles")
    local_now = datetime.now(UTC).astimezone(zone)
    opens = (local_now + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    closes = opens + timedelta(hours=1)
    session.add(
        Team(
            slug="night",
            timezone="America/Los_Angeles",
            shift_start=opens.strftime("%H:%M"),
            shift_end=closes.strftime("%H:%M"),
            shift_days=[1, 2, 3, 4, 5, 6, 7],
        )
    )
    cadence = await make_cadence(session, (0, "call"), (1, "call"), (2, "sms"))
    lead = await make_lead(session, cadence, team="night")
    await scheduler.touch_ended(session, lead)
    step = await pending(session, lead)
    assert step is not None and step.channel == "call"
    assert opens <= step.due_at.astimezone(zone) <= opens + timedelta(minutes=15)


async def test_an_edit_re_plans_pending_steps_against_each_lead_s_progress(
    session: AsyncSession,
) -> None:
    cadence = await make_cadence(session, (0, "call"), (10, "sms"), (20, "sms"), nurture=7)
    lead = await make_lead(session, cadence)
    await scheduler.touch_ended(session, lead)
    waiting = await pending(session, lead)
    assert waiting is not None and waiting.delay_minutes == 10
    ten = await session.scalar(select(CadenceStep).where(CadenceStep.delay_minutes == 10))
    assert ten is not None
    ten.delay_minutes = 3  # moved earlier
    await session.flush()
    assert await scheduler.reschedule_cadence(session, cadence.id) == 1
    moved = await pending(session, lead)
    assert moved is not None and moved.id == waiting.id and moved.delay_minutes == 3
    assert moved.due_at < waiting.created_at + timedelta(minutes=4)
    for step in list(await session.scalars(select(CadenceStep))):
        if step.cadence_id == cadence.id and step.delay_minutes > 0:
            await session.delete(step)
    await session.flush()
    await scheduler.reschedule_cadence(session, cadence.id)
    nurture = await pending(session, lead)
    assert nurture is not None and (nurture.kind, nurture.step_id) == ("nurture", None)
    assert nurture.due_at - nurture.created_at == timedelta(days=7)


async def test_opting_back_in_resumes_where_the_opt_out_stopped(session: AsyncSession) -> None:
    cadence = await make_cadence(session, (0, "call"), (10, "sms"))
    lead = await make_lead(session, cadence)
    await scheduler.touch_ended(session, lead)
    first = await pending(session, lead)
    await scheduler.opt_out(session, lead, reason="sms_stop")
    assert (lead.status, lead.cadence_state) == ("opted_out", "stopped")
    assert first is not None and await pending(session, lead) is None
    await scheduler.opt_in(session, lead)
    resumed = await pending(session, lead)
    assert lead.status == "unreached" and lead.opted_out_at is None
    assert resumed is not None and resumed.delay_minutes == 10 and resumed.id != first.id


async def test_a_stopping_disposition_ends_the_follow_up(session: AsyncSession) -> None:
    cadence = await make_cadence(session, (0, "call"), (10, "sms"))
    lead = await make_lead(session, cadence)
    lead.disposition = "wrong_number"
    await scheduler.touch_ended(session, lead)
    assert await pending(session, lead) is None
    assert lead.cadence_stop_reason == "disposition: wrong_number"


async def test_a_round_outside_the_window_waits_for_it_unless_a_first_call_now(
    session: AsyncSession,
) -> None:
    cadence = await make_cadence(session, (0, "call"))
    lead = await make_lead(session, cadence)
    source = await session.get(Source, lead.source_id)
    assert source is not None
    local = datetime.now(UTC).astimezone(ZoneInfo("America/Los_Angeles"))
    source.calling_window_start = (local + timedelta(hours=2)).strftime("%H:00")
    source.calling_window_end = (local + timedelta(hours=3)).strftime("%H:00")
    source.after_hours_policy = "call_now"
    assert not await scheduler.hold_for_window(session, lead)  # the first call goes now
    lead.first_call_at = datetime.now(UTC)  # a later round, or a follow-up call
    assert await scheduler.hold_for_window(session, lead)
    assert lead.status == "waiting" and lead.dial_due_at is not None
    assert lead.dial_due_at > datetime.now(UTC) + timedelta(minutes=59)
