"""Each scripted phone outcome, as the product sees it through status callbacks and the log."""

from collections.abc import Callable

import httpx
import pytest
from twilio.rest import Client

from tests.sandbox.conftest import Product
from tests.sandbox.helpers import statuses, wait_ended, wait_for

SAY = "<Response><Say>Hello</Say></Response>"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ({"answer": "human"}, ["initiated", "ringing", "in-progress", "completed"]),
        ({"answer": "no-answer"}, ["initiated", "ringing", "no-answer"]),
        ({"answer": "human", "answer_after_s": 30}, ["initiated", "ringing", "no-answer"]),
        ({"answer": "busy"}, ["initiated", "ringing", "busy"]),
        ({"answer": "fail"}, ["initiated", "failed"]),
    ],
)
async def test_scripted_outcomes(
    twilio: Client,
    control: httpx.AsyncClient,
    product: Product,
    phone: Callable[[], str],
    script: dict[str, object],
    expected: list[str],
) -> None:
    number = phone()
    await control.put(f"/_sandbox/phones/{number}", json=script)
    call = await twilio.calls.create_async(
        to=number,
        from_="+15550000001",
        url=product.on("/answer", SAY),
        timeout=20,
        status_callback=product.url("/status"),
    )
    log = await wait_ended(control, call.sid)
    assert statuses(log) == expected
    [final] = product.hits_to("/status")  # by default only the completed event is sent
    assert final.params["CallStatus"] == expected[-1]
    fetched = await twilio.calls(call.sid).fetch_async()
    assert fetched.status == expected[-1]
    assert bool(product.hits_to("/answer")) == (expected[-1] == "completed")


async def test_no_answer_waits_for_the_ring_timeout(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    number = phone()
    await control.put(f"/_sandbox/phones/{number}", json={"answer": "no-answer"})
    call = await twilio.calls.create_async(
        to=number, from_="+15550000001", url=product.on("/answer", SAY), timeout=15
    )
    log = await wait_ended(control, call.sid)
    ringing, ended = log["statuses"][1]["at"], log["statuses"][2]["at"]
    from datetime import datetime

    elapsed = (datetime.fromisoformat(ended) - datetime.fromisoformat(ringing)).total_seconds()
    assert 0.15 <= elapsed < 1.0  # 15 simulated seconds at time scale 0.01


@pytest.mark.parametrize(
    ("mode", "answered_by"),
    [("Enable", "machine_start"), ("DetectMessageEnd", "machine_end_beep")],
)
async def test_machine_answers_and_amd_says_so(
    twilio: Client,
    control: httpx.AsyncClient,
    product: Product,
    phone: Callable[[], str],
    mode: str,
    answered_by: str,
) -> None:
    number = phone()
    await control.put(f"/_sandbox/phones/{number}", json={"answer": "machine", "digits": "1"})
    call = await twilio.calls.create_async(
        to=number,
        from_="+15550000001",
        url=product.on("/answer", SAY),
        machine_detection=mode,
    )
    log = await wait_ended(control, call.sid)
    assert log["answered_by"] == answered_by
    assert product.hits_to("/answer")[0].params["AnsweredBy"] == answered_by
    assert (await twilio.calls(call.sid).fetch_async()).answered_by == answered_by


async def test_human_detected_as_human(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    call = await twilio.calls.create_async(
        to=phone(),
        from_="+15550000001",
        url=product.on("/answer", SAY),
        machine_detection="Enable",
    )
    await wait_ended(control, call.sid)
    assert product.hits_to("/answer")[0].params["AnsweredBy"] == "human"


async def test_async_amd_posts_its_own_callback(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    number = phone()
    await control.put(f"/_sandbox/phones/{number}", json={"answer": "machine"})
    long_message = "<Response><Pause length='5'/></Response>"
    call = await twilio.calls.create_async(
        to=number,
        from_="+15550000001",
        url=product.on("/answer", long_message),
        machine_detection="DetectMessageEnd",
        async_amd="true",
        async_amd_status_callback=product.url("/amd"),
    )
    await wait_for(control, call.sid, lambda c: any(x["kind"] == "amd" for x in c["callbacks"]))
    assert "AnsweredBy" not in product.hits_to("/answer")[0].params
    assert product.hits_to("/amd")[0].params["AnsweredBy"] == "machine_end_beep"


async def test_dialed_number_with_machine_detection(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    lead = phone()
    await control.put(f"/_sandbox/phones/{lead}", json={"answer": "machine"})
    twiml = (
        f'<Response><Dial action="{product.url("/dialed")}"><Number machineDetection="Enable" '
        f'url="{product.url("/whisper")}">{lead}</Number></Dial></Response>'
    )
    product.on("/whisper", "<Response><Say>Connecting</Say></Response>")
    call = await twilio.calls.create_async(
        to=phone(), from_="+15550000001", url=product.on("/answer", twiml)
    )
    log = await wait_ended(control, call.sid)
    child = await wait_ended(control, log["child_call_sids"][0])
    assert child["answered_by"] == "machine_start"
    assert product.hits_to("/whisper")[0].params["AnsweredBy"] == "machine_start"
    assert product.hits_to("/dialed")[0].params["DialCallStatus"] == "completed"


@pytest.mark.parametrize(
    ("script", "dial_status"),
    [
        ({"answer": "busy"}, "busy"),
        ({"answer": "no-answer"}, "no-answer"),
        ({"answer": "fail"}, "failed"),
    ],
)
async def test_dial_action_reports_unreached_leads(
    twilio: Client,
    control: httpx.AsyncClient,
    product: Product,
    phone: Callable[[], str],
    script: dict[str, str],
    dial_status: str,
) -> None:
    lead = phone()
    await control.put(f"/_sandbox/phones/{lead}", json=script)
    twiml = (
        f'<Response><Dial timeout="10" action="{product.url("/dialed")}">{lead}</Dial></Response>'
    )
    call = await twilio.calls.create_async(
        to=phone(), from_="+15550000001", url=product.on("/answer", twiml)
    )
    await wait_ended(control, call.sid)
    [action] = product.hits_to("/dialed")
    assert action.params["DialCallStatus"] == dial_status
    assert action.params["DialCallDuration"] == "0"
