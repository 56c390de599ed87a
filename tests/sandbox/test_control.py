"""Calls update (cancel, complete, redirect), messages, application errors, signatures, reset."""

from collections.abc import Callable

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from app.config import SANDBOX_AUTH_TOKEN
from tests.sandbox.conftest import Product, Reply
from tests.sandbox.helpers import statuses, wait_ended, wait_for

LONG = "<Response><Pause length='60'/></Response>"


async def test_cancel_while_ringing(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    number = phone()
    await control.put(f"/_sandbox/phones/{number}", json={"answer_after_s": 50})
    call = await twilio.calls.create_async(
        to=number, from_="+15550000001", url=product.on("/answer", LONG)
    )
    await wait_for(control, call.sid, lambda c: c["status"] == "ringing")
    updated = await twilio.calls(call.sid).update_async(status="canceled")
    assert updated.status == "canceled"
    log = await wait_ended(control, call.sid)
    assert statuses(log) == ["initiated", "ringing", "canceled"]


async def test_complete_an_answered_call(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    call = await twilio.calls.create_async(
        to=phone(), from_="+15550000001", url=product.on("/answer", LONG)
    )
    await wait_for(control, call.sid, lambda c: len(c["documents"]) == 1)
    updated = await twilio.calls(call.sid).update_async(status="completed")
    assert updated.status == "completed"
    log = await wait_ended(control, call.sid)
    assert statuses(log) == ["initiated", "ringing", "in-progress", "completed"]


async def test_redirect_a_live_call(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    call = await twilio.calls.create_async(
        to=phone(), from_="+15550000001", url=product.on("/answer", LONG)
    )
    await wait_for(control, call.sid, lambda c: len(c["documents"]) == 1)
    await twilio.calls(call.sid).update_async(twiml="<Response><Say>Inline</Say></Response>")
    log = await wait_ended(control, call.sid)
    assert [p["text"] for p in log["played"] if p["verb"] == "Say"] == ["Inline"]

    url = product.on("/next", "<Response><Say>Fetched</Say></Response>")
    with pytest.raises(TwilioRestException) as refused:
        await twilio.calls(call.sid).update_async(url=url)
    assert refused.value.code == 21220  # the call has ended


async def test_redirect_by_url(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    call = await twilio.calls.create_async(
        to=phone(), from_="+15550000001", url=product.on("/answer", LONG)
    )
    await wait_for(control, call.sid, lambda c: len(c["documents"]) == 1)
    url = product.on("/next", "<Response><Say>Fetched</Say></Response>")
    await twilio.calls(call.sid).update_async(url=url, method="GET")
    await wait_ended(control, call.sid)
    [hit] = product.hits_to("/next")
    assert hit.method == "GET" and hit.signature_valid


async def test_list_calls(twilio: Client, product: Product, phone: Callable[[], str]) -> None:
    number = phone()
    call = await twilio.calls.create_async(
        to=number, from_="+15550000001", url=product.on("/answer", LONG)
    )
    listed = await twilio.calls.list_async(to=number)
    assert [c.sid for c in listed] == [call.sid]
    await twilio.calls(call.sid).update_async(status="completed")


async def test_messages_create_fetch_and_callbacks(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    message = await twilio.messages.create_async(
        to=phone(),
        from_="+15550000001",
        body="Your callback is coming",
        status_callback=product.url("/sms"),
    )
    assert message.sid.startswith("SM") and message.status == "queued"
    for _ in range(100):
        if len(product.hits_to("/sms")) == 2:
            break
        await wait_a_moment()
    assert [h.params["MessageStatus"] for h in product.hits_to("/sms")] == ["sent", "delivered"]
    assert all(h.signature_valid for h in product.hits_to("/sms"))
    fetched = await twilio.messages(message.sid).fetch_async()
    assert fetched.status == "delivered" and fetched.body == "Your callback is coming"
    log = (await control.get("/_sandbox/messages")).json()["messages"]
    assert message.sid in {m["sid"] for m in log}


async def test_message_without_body_is_refused(twilio: Client) -> None:
    with pytest.raises(TwilioRestException) as refused:
        await twilio.messages.create_async(to="+15551230001", from_="+15550000001")
    assert refused.value.code == 21602


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply("oops", status=500), 11200),
        (Reply("<Response/>", delay_s=1.0), 11205),  # slower than the 0.5 s callback timeout
        (Reply("<Response><Say>unclosed</Response>"), 12100),
        (Reply("<Response><Dance/></Response>"), 12100),
        (Reply("hello", content_type="text/plain"), 12300),
    ],
)
async def test_webhook_failures_end_the_call_with_an_application_error(
    twilio: Client,
    control: httpx.AsyncClient,
    product: Product,
    phone: Callable[[], str],
    reply: Reply,
    code: int,
) -> None:
    call = await twilio.calls.create_async(
        to=phone(), from_="+15550000001", url=product.on("/answer", reply)
    )
    log = await wait_ended(control, call.sid)
    assert log["status"] == "completed"
    assert [e["code"] for e in log["errors"]] == [code]
    assert "application error" in log["played"][-1]["text"]


async def test_failed_status_callbacks_are_recorded(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    product.on("/status", Reply("", status=503))
    call = await twilio.calls.create_async(
        to=phone(),
        from_="+15550000001",
        url=product.on("/answer", "<Response/>"),
        status_callback=product.url("/status"),
    )
    log = await wait_ended(control, call.sid)
    [delivery] = [c for c in log["callbacks"] if c["kind"] == "status"]
    assert delivery["status_code"] == 503


async def test_forged_signatures_are_detected(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    url = product.on("/answer", "<Response/>")
    call = await twilio.calls.create_async(to=phone(), from_="+15550000001", url=url)
    await wait_ended(control, call.sid)
    [hit] = product.hits_to("/answer")
    validator = RequestValidator(SANDBOX_AUTH_TOKEN)
    signature = validator.compute_signature(url, hit.params)
    assert hit.signature_valid and validator.validate(url, hit.params, signature)
    forged = {**hit.params, "CallStatus": "completed"}
    assert not validator.validate(url, forged, signature)
    assert not RequestValidator("another-token").validate(url, hit.params, signature)


async def test_reset_clears_everything(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    number = phone()
    await control.put(f"/_sandbox/phones/{number}", json={"answer": "busy"})
    await twilio.calls.create_async(to=number, from_="+15550000001", url=product.on("/a", LONG))
    await twilio.messages.create_async(to=number, from_="+15550000001", body="hi")
    assert (await control.post("/_sandbox/reset")).json() == {"reset": True}
    assert (await control.get("/_sandbox/calls")).json() == {"calls": []}
    assert (await control.get("/_sandbox/messages")).json() == {"messages": []}
    assert (await control.get("/_sandbox/phones")).json() == {}


async def test_phone_scripts_are_validated(control: httpx.AsyncClient) -> None:
    assert (
        await control.put("/_sandbox/phones/+15550001111", json={"answer": "?"})
    ).status_code == 422
    assert (await control.put("/_sandbox/phones/555", json={})).status_code == 422
    assert (await control.put("/_sandbox/phones/+15550001111", json={"ring": 1})).status_code == 422


async def wait_a_moment() -> None:
    import asyncio

    await asyncio.sleep(0.02)
