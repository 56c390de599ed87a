"""Follow-up cadences end to end: a real worker process, real Postgres and Redis, the sandbox.

Two weeks of follow-up cannot pass in a test, so the test moves time instead: when a step is
planned it checks the step's due time, then pulls it to now (in Postgres and in the worker's
queue) and watches the real worker fire it.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from arq.connections import ArqRedis
from arq.constants import default_queue_name, job_key_prefix
from sqlalchemy import select, update

from app.config import get_settings
from app.email.links import unsubscribe_url
from app.models import Attempt, DoNotCall, LeadStep, Message, Source
from app.queue import close_arq, enqueue_step, make_arq, step_job_id
from tests.calls.conftest import Stack, eventually, wait_settled
from tests.conftest import create_live_api_key
from tests.email.conftest import Mailbox

LEAD = "+14155550142"
EMAIL = "ada@example.com"
REP = "+14155550101"
DEFAULT_CADENCE_ID = UUID("00000000-0000-4000-8000-00000000cade")
# The default cadence as shipped (migration 0009): (delay in minutes, channel).
DEFAULT_STEPS = [
    (0, "call"),
    (1, "sms"),
    (15, "call"),
    (30, "email"),
    (240, "call"),
    (1440, "call"),
    (2880, "call"),
    (2890, "sms"),
    (4320, "call"),
    (7200, "call"),
    (7210, "email"),
    (10080, "call"),
    (14400, "call"),
    (14410, "sms"),
    (20160, "call"),
]
# The rep takes every lead; the lead never picks up: an unreached lead.
REP_ACCEPTS = {"answer": "human", "answer_after_s": 1, "digits": "1"}
LEAD_NEVER_ANSWERS = {"answer": "no-answer"}


@pytest.fixture
async def worker_queue() -> AsyncIterator[ArqRedis]:
    """The shared worker's own Redis database (tests elsewhere use an isolated one)."""
    arq = make_arq(get_settings().redis_url)
    yield arq
    await close_arq(arq)


async def add_source(stack: Stack, **columns: Any) -> Source:
    async with stack.sessions() as session, session.begin():
        source = Source(slug="followup", name="Roof quotes", company="Acme Roofing", **columns)
        session.add(source)
    return source


async def live_step(stack: Stack, lead_id: str) -> LeadStep | None:
    async with stack.sessions() as session:
        step: LeadStep | None = await session.scalar(
            select(LeadStep).where(
                LeadStep.lead_id == UUID(lead_id),
                LeadStep.status == "pending",
                LeadStep.kind != "ack",
            )
        )
        return step


async def next_step(stack: Stack, lead_id: str) -> LeadStep:
    found: list[LeadStep] = []

    async def planned() -> bool:
        step = await live_step(stack, lead_id)
        found[:] = [step] if step else []
        return bool(found)

    await eventually(planned, what="the next step to be planned")
    return found[0]


async def step_row(stack: Stack, step_id: UUID) -> LeadStep:
    async with stack.sessions() as session:
        step = await session.get(LeadStep, step_id)
        assert step is not None
        return step


async def fast_forward(stack: Stack, queue: ArqRedis, step: LeadStep, *, job: bool = True) -> None:
    """Make the step due now: in Postgres, and (unless the test wants the sweeper to find it)
    its deferred job in the worker's queue."""
    now = datetime.now(UTC)
    async with stack.sessions() as session, session.begin():
        await session.execute(update(LeadStep).where(LeadStep.id == step.id).values(due_at=now))
    if not job:
        return
    job_id = step_job_id(step.id)
    if await queue.exists(job_key_prefix + job_id):  # deferred to the old due time
        await queue.zadd(default_queue_name, {job_id: now.timestamp() * 1000})
    else:  # due too far out to have had a job yet
        await enqueue_step(queue, step.id, now)


async def fired(stack: Stack, step: LeadStep) -> LeadStep:
    async def done() -> bool:
        return (await step_row(stack, step.id)).status != "pending"

    await eventually(done, what=f"step {step.delay_minutes} {step.channel} to fire")
    return await step_row(stack, step.id)


async def messages_to(stack: Stack, address: str) -> list[Message]:
    async with stack.sessions() as session:
        rows = await session.scalars(
            select(Message).where(Message.to_addr == address).order_by(Message.created_at)
        )
        return list(rows)


async def unreached_lead(stack: Stack, **source: Any) -> str:
    """A lead whose first call did not reach it, with its first follow-up planned."""
    await add_source(stack, **source)
    await stack.add_rep("Dana", REP)
    await stack.script(REP, **REP_ACCEPTS)
    await stack.script(LEAD, **LEAD_NEVER_ANSWERS)
    lead_id = await stack.send_lead(LEAD, source="followup", email=EMAIL)
    await wait_settled(stack, lead_id)
    return lead_id


async def attempts_count(stack: Stack, lead_id: str) -> int:
    return len(await stack.attempts(lead_id))


async def emails_sent(stack: Stack, count: int) -> bool:
    sent = [m for m in await messages_to(stack, EMAIL) if m.status == "sent"]
    return len(sent) == count


async def test_an_unreached_lead_gets_the_whole_default_cadence_at_the_right_times(
    stack: Stack, worker_queue: ArqRedis, mail_server: Mailbox
) -> None:
    lead_id = await unreached_lead(stack)
    received = (await stack.lead(lead_id)).received_at
    progress = 0
    for delay, channel in DEFAULT_STEPS[1:]:
        step = await next_step(stack, lead_id)
        assert (step.delay_minutes, step.channel) == (delay, channel)
        # On schedule from the lead's arrival, or spaced after the last touch when behind it.
        on_time = max(
            received + timedelta(minutes=delay),
            step.created_at + timedelta(minutes=delay - progress),
        )
        assert abs(step.due_at - on_time) < timedelta(seconds=1), (delay, step.due_at, on_time)
        calls_before = await attempts_count(stack, lead_id)
        await fast_forward(stack, worker_queue, step)
        done = await fired(stack, step)
        if channel == "call":
            assert done.status == "done"
            await wait_settled(stack, lead_id)
            assert await attempts_count(stack, lead_id) == calls_before + 1
        elif channel == "sms":
            assert done.status == "done", done.result
        else:
            assert done.status == "done", done.result
        progress = delay
    texts = await messages_to(stack, LEAD)
    assert len(texts) == 3 and all("Acme Roofing" in text.body for text in texts)
    await eventually(lambda: emails_sent(stack, 2), what="both emails to be sent")
    subjects = [mail["Subject"] for mail in mail_server.received if mail["To"] == EMAIL]
    assert subjects == ["Your request with Acme Roofing", "Still here to help, Ada"]
    assert "Hi Ada" in texts[0].body and "Dana" in texts[0].body
    nurture = await next_step(stack, lead_id)
    assert (nurture.kind, nurture.channel) == ("nurture", "sms")
    assert abs(nurture.due_at - nurture.created_at - timedelta(days=30)) < timedelta(seconds=1)
    attempts = await stack.attempts(lead_id)
    assert len(attempts) == 10 and {a.outcome for a in attempts} == {"lead_no_answer"}


async def test_a_number_put_on_the_do_not_call_list_stops_the_cadence(
    stack: Stack, worker_queue: ArqRedis
) -> None:
    lead_id = await unreached_lead(stack)
    step = await next_step(stack, lead_id)
    async with stack.sessions() as session, session.begin():
        session.add(DoNotCall(phone=LEAD, reason="asked on the phone"))
    await fast_forward(stack, worker_queue, step)
    done = await fired(stack, step)
    assert done.status == "canceled"
    lead = await stack.lead(lead_id)
    assert (lead.status, lead.cadence_state) == ("do_not_call", "stopped")
    assert await messages_to(stack, LEAD) == []
    assert await live_step(stack, lead_id) is None


async def test_not_interested_after_the_call_stops_the_cadence(stack: Stack) -> None:
    await add_source(stack)
    await stack.add_rep("Dana", REP)
    # 1 takes the lead after the whisper, 2 answers the prompt after the call: not interested.
    await stack.script(REP, answer="human", answer_after_s=1, digits=["1", "2"])
    await stack.script(LEAD, answer="human", answer_after_s=1, hangup_after_s=5)
    lead_id = await stack.send_lead(LEAD, source="followup")
    await wait_settled(stack, lead_id)
    [attempt] = await stack.attempts(lead_id)
    assert (attempt.outcome, attempt.disposition) == ("connected", "not_interested")
    lead = await stack.lead(lead_id)
    assert lead.disposition == "not_interested"
    assert (lead.cadence_state, lead.cadence_stop_reason) == (
        "stopped",
        "disposition: not_interested",
    )
    assert await live_step(stack, lead_id) is None


async def test_call_back_later_keeps_the_cadence_going(stack: Stack) -> None:
    await add_source(stack)
    await stack.add_rep("Dana", REP)
    await stack.script(REP, answer="human", answer_after_s=1, digits=["1", "3"])
    await stack.script(LEAD, answer="human", answer_after_s=1, hangup_after_s=5)
    lead_id = await stack.send_lead(LEAD, source="followup")
    await wait_settled(stack, lead_id)
    step = await next_step(stack, lead_id)
    assert (await stack.lead(lead_id)).disposition == "call_back"
    assert (step.delay_minutes, step.channel) == (1, "sms")


async def test_a_due_step_survives_a_redis_flush(stack: Stack, worker_queue: ArqRedis) -> None:
    lead_id = await unreached_lead(stack)
    step = await next_step(stack, lead_id)
    await worker_queue.flushdb()
    await fast_forward(stack, worker_queue, step, job=False)
    done = await fired(stack, step)  # found by the sweeper, every 5 s
    assert done.status == "done"
    [text] = await messages_to(stack, LEAD)
    assert text.lead_step_id == step.id


async def test_a_lead_arriving_after_hours_waits_for_its_window_and_is_told_so(
    stack: Stack,
) -> None:
    # A window that is closed now in the lead's zone (Los Angeles), opening in two hours.
    local = datetime.now(UTC).astimezone(ZoneInfo("America/Los_Angeles"))
    opens = (local + timedelta(hours=2)).strftime("%H:00")
    closes = (local + timedelta(hours=3)).strftime("%H:00")
    await add_source(stack, calling_window_start=opens, calling_window_end=closes)
    rep = await stack.add_rep("Dana", REP)
    await stack.script(REP, **REP_ACCEPTS)
    lead_id = await stack.send_lead(LEAD, source="followup")

    async def acknowledged() -> bool:
        return any(m.status in ("sent", "delivered") for m in await messages_to(stack, LEAD))

    await eventually(acknowledged, what="the after-hours SMS")
    lead = await stack.lead(lead_id)
    assert lead.dial_due_at is not None and lead.dial_due_at > datetime.now(UTC) + timedelta(
        hours=1
    )
    assert await stack.attempts(lead_id) == []
    assert await stack.calls_to(REP) == []
    [ack] = await messages_to(stack, LEAD)
    assert "closed right now" in ack.body
    async with stack.sessions() as session:
        assert await session.scalar(select(Attempt.id).where(Attempt.rep_id == rep.id)) is None


def text_step(delay: int, text: str, step_id: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"delay_minutes": delay, "channel": "sms", "template": text}
    return {**step, "id": step_id} if step_id else step


async def fire_next(stack: Stack, queue: ArqRedis, lead_id: str) -> LeadStep:
    step = await next_step(stack, lead_id)
    await fast_forward(stack, queue, step)
    return await fired(stack, step)


async def test_editing_a_cadence_mid_flight_neither_skips_nor_repeats_a_step(
    stack: Stack, worker_queue: ArqRedis
) -> None:
    headers = await create_live_api_key(stack.sessions)
    call = {"delay_minutes": 0, "channel": "call"}
    body = {
        "name": "Short",
        "nurture_every_days": 0,
        "steps": [call, text_step(1, "A"), text_step(10, "B"), text_step(20, "C")],
    }
    created = await stack.api.post("/v1/cadences", json=body, headers=headers)
    assert created.status_code == 201, created.text
    cadence = created.json()
    lead_id = await unreached_lead(stack, cadence_id=UUID(cadence["id"]))
    await fire_next(stack, worker_queue, lead_id)  # A
    waiting = await next_step(stack, lead_id)
    assert waiting.delay_minutes == 10  # B is next
    ids = {step["template"]: step["id"] for step in cadence["steps"] if step.get("template")}
    edited = [call, text_step(1, "A", ids["A"]), text_step(5, "N"), text_step(10, "B", ids["B"])]
    edited.append(text_step(20, "C", ids["C"]))
    response = await stack.api.put(
        f"/v1/cadences/{cadence['id']}", json={**body, "steps": edited}, headers=headers
    )
    assert response.status_code == 200, response.text
    replanned = await next_step(stack, lead_id)
    assert (replanned.id, replanned.delay_minutes) == (waiting.id, 5)  # the new step is owed
    for _ in range(3):
        await fire_next(stack, worker_queue, lead_id)
    sent = [message.body for message in await messages_to(stack, LEAD)]
    assert sent == ["A", "N", "B", "C"]
    assert await live_step(stack, lead_id) is None
    assert (await stack.lead(lead_id)).cadence_state == "done"


async def assert_stopped(stack: Stack, queue: ArqRedis, lead_id: str, step: LeadStep) -> None:
    """The pending step was canceled at once and, made due anyway, sends nothing."""
    canceled = await step_row(stack, step.id)
    assert canceled.status == "canceled"
    await fast_forward(stack, queue, step)
    assert (await step_row(stack, step.id)).status == "canceled"
    assert await live_step(stack, lead_id) is None


async def test_a_stop_reply_opts_the_lead_out_at_once(stack: Stack, worker_queue: ArqRedis) -> None:
    lead_id = await unreached_lead(stack)
    step = await next_step(stack, lead_id)
    sender = get_settings().caller_id
    route = {"sms_url": f"{get_settings().public_base_url}/twilio/sms/inbound"}
    (await stack.control.put(f"/_sandbox/numbers/{sender}", json=route)).raise_for_status()
    reply = await stack.control.post(
        "/_sandbox/sms", json={"from": LEAD, "to": sender, "body": " stop "}
    )
    assert reply.status_code == 200, reply.text
    lead = await stack.lead(lead_id)
    assert lead.status == "opted_out" and lead.opted_out_at is not None
    assert lead.cadence_state == "stopped"
    async with stack.sessions() as session:
        listed = await session.get(DoNotCall, LEAD)
        assert listed is not None and listed.added_by == "sms"
    await assert_stopped(stack, worker_queue, lead_id, step)
    assert [m.direction for m in await messages_to(stack, LEAD)] == []


async def test_a_converted_lead_gets_no_more_touches(stack: Stack, worker_queue: ArqRedis) -> None:
    headers = await create_live_api_key(stack.sessions)
    lead_id = await unreached_lead(stack)
    step = await next_step(stack, lead_id)
    response = await stack.api.patch(
        f"/v1/leads/{lead_id}", json={"status": "converted"}, headers=headers
    )
    assert response.status_code == 200, response.text
    await assert_stopped(stack, worker_queue, lead_id, step)
    assert (await stack.lead(lead_id)).status == "converted"


async def test_an_unsubscribe_click_opts_the_lead_out(stack: Stack, worker_queue: ArqRedis) -> None:
    lead_id = await unreached_lead(stack)
    step = await next_step(stack, lead_id)
    link = unsubscribe_url(UUID(lead_id))
    page = await stack.api.get(link)
    assert page.status_code == 200 and (await stack.lead(lead_id)).opted_out_at is None
    clicked = await stack.api.post(link, data={"List-Unsubscribe": "One-Click"})
    assert clicked.status_code == 200
    assert (await stack.lead(lead_id)).status == "opted_out"
    await assert_stopped(stack, worker_queue, lead_id, step)
