"""People texting our numbers: the signed incoming-message webhook and TwiML <Message> replies."""

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import Product, Reply


async def route(control: httpx.AsyncClient, number: str, url: str, method: str = "POST") -> None:
    response = await control.put(
        f"/_sandbox/numbers/{number}", json={"sms_url": url, "sms_method": method}
    )
    assert response.status_code == 200, response.text


async def text(control: httpx.AsyncClient, sender: str, number: str, body: str) -> dict[str, Any]:
    response = await control.post(
        "/_sandbox/sms", json={"from": sender, "to": number, "body": body}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def logged(control: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    messages = (await control.get("/_sandbox/messages")).json()["messages"]
    found: dict[str, Any] = next(m for m in messages if m["sid"] == sid)
    return found


async def test_a_text_is_posted_signed_and_the_reply_is_sent_back(
    control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    ours, sender = phone(), phone()
    url = product.on("/sms", "<Response><Message>Thanks, we will call you.</Message></Response>")
    await route(control, ours, url)

    answer = await text(control, sender, ours, "  Call me at 5  ")

    [hit] = product.hits_to("/sms")
    assert hit.method == "POST" and hit.signature_valid
    assert hit.params["From"] == sender and hit.params["To"] == ours
    assert hit.params["Body"] == "  Call me at 5  " and hit.params["SmsStatus"] == "received"
    assert hit.params["MessageSid"] == answer["sid"] and answer["sid"].startswith("SM")
    assert answer["status_code"] == 200 and answer["errors"] == []
    [reply] = answer["replies"]
    assert (reply["to"], reply["from"], reply["body"]) == (
        sender,
        ours,
        "Thanks, we will call you.",
    )
    assert reply["direction"] == "outbound-reply"

    incoming = await logged(control, answer["sid"])
    assert incoming["direction"] == "inbound" and incoming["status"] == "received"
    for _ in range(200):
        if (await logged(control, reply["sid"]))["status"] == "delivered":
            break
        await asyncio.sleep(0.01)
    assert (await logged(control, reply["sid"]))["status"] == "delivered"


async def test_message_attributes_and_body_element(
    control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    ours, sender, other = phone(), phone(), phone()
    callback = product.url("/reply-status")
    twiml = (
        f"<Response><Message to='{other}' statusCallback='{callback}'><Body>Forwarded</Body>"
        "</Message><Message>And you</Message></Response>"
    )
    await route(control, ours, product.on("/sms", twiml))

    answer = await text(control, sender, ours, "hello")

    first, second = answer["replies"]
    assert (first["to"], first["from"], first["body"]) == (other, ours, "Forwarded")
    assert (second["to"], second["body"]) == (sender, "And you")
    for _ in range(200):
        if len(product.hits_to("/reply-status")) == 2:
            break
        await asyncio.sleep(0.01)
    assert [h.params["MessageStatus"] for h in product.hits_to("/reply-status")] == [
        "sent",
        "delivered",
    ]


async def test_get_webhooks_are_signed_with_the_query(
    control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    ours = phone()
    await route(control, ours, product.on("/sms", "<Response/>"), method="GET")
    answer = await text(control, phone(), ours, "hi")
    [hit] = product.hits_to("/sms")
    assert hit.method == "GET" and hit.signature_valid
    assert answer["replies"] == [] and answer["errors"] == []


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply("oops", status=500), 11200),
        (Reply("<Response/>", delay_s=1.0), 11205),  # slower than the 0.5 s callback timeout
        (Reply("<Response><Message>unclosed</Response>"), 12100),
        (Reply("<Response><Say>Hello</Say></Response>"), 12100),
        (Reply("hello", content_type="text/plain"), 12300),
    ],
)
async def test_a_failing_webhook_is_recorded_and_sends_nothing(
    control: httpx.AsyncClient,
    product: Product,
    phone: Callable[[], str],
    reply: Reply,
    code: int,
) -> None:
    ours = phone()
    await route(control, ours, product.on("/sms", reply))
    answer = await text(control, phone(), ours, "hi")
    assert [e["code"] for e in answer["errors"]] == [code]
    assert answer["replies"] == []
    assert [e["code"] for e in (await logged(control, answer["sid"]))["errors"]] == [code]


async def test_an_empty_answer_is_no_reply(
    control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    ours = phone()
    await route(control, ours, product.on("/sms", Reply("", status=204, content_type="")))
    answer = await text(control, phone(), ours, "hi")
    assert answer["status_code"] == 204 and answer["replies"] == [] and answer["errors"] == []


async def test_numbers_are_listed_removed_and_validated(
    control: httpx.AsyncClient, phone: Callable[[], str]
) -> None:
    ours = phone()
    await route(control, ours, "https://example.test/sms")
    assert (await control.get("/_sandbox/numbers")).json()[ours] == {
        "sms_url": "https://example.test/sms",
        "sms_method": "POST",
    }
    assert (await control.delete(f"/_sandbox/numbers/{ours}")).status_code == 200
    assert (await control.delete(f"/_sandbox/numbers/{ours}")).status_code == 404

    bad_url = await control.put(f"/_sandbox/numbers/{ours}", json={"sms_url": "ftp://x"})
    assert bad_url.status_code == 422
    bad_number = await control.put("/_sandbox/numbers/12345", json={"sms_url": "https://x.test"})
    assert bad_number.status_code == 422


async def test_texting_an_unrouted_number_or_from_a_bad_one_is_refused(
    control: httpx.AsyncClient, phone: Callable[[], str]
) -> None:
    unrouted = await control.post(
        "/_sandbox/sms", json={"from": phone(), "to": phone(), "body": "STOP"}
    )
    assert unrouted.status_code == 404
    bad = await control.post("/_sandbox/sms", json={"from": "555", "to": phone(), "body": "hi"})
    assert bad.status_code == 422


async def test_reset_forgets_the_numbers(
    control: httpx.AsyncClient, phone: Callable[[], str]
) -> None:
    ours = phone()
    await route(control, ours, "https://example.test/sms")
    await control.post("/_sandbox/reset")
    assert ours not in (await control.get("/_sandbox/numbers")).json()
