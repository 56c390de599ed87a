"""Fault injection: refused and hung creates, outage windows, duplicated and late callbacks."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from app.carrier import CarrierHttpClient, close_twilio_client
from app.config import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN
from tests.sandbox.conftest import Product
from tests.sandbox.helpers import wait_ended

CALLS = f"/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}/Calls.json"
SAY = "<Response><Say>Hello</Say></Response>"


@pytest.fixture(autouse=True)
async def no_faults_left(control: httpx.AsyncClient) -> AsyncIterator[None]:
    """The sandbox is shared by the whole session: never leave a fault plan behind."""
    yield
    await control.delete("/_sandbox/faults")


async def set_faults(control: httpx.AsyncClient, plan: dict[str, Any]) -> dict[str, Any]:
    response = await control.put("/_sandbox/faults", json=plan)
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


async def faults(control: httpx.AsyncClient) -> dict[str, Any]:
    view: dict[str, Any] = (await control.get("/_sandbox/faults")).json()
    return view


async def calls_to(control: httpx.AsyncClient, number: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = (
        await control.get("/_sandbox/calls", params={"to": number})
    ).json()["calls"]
    return calls


async def create(twilio: Client, number: str, **extra: Any) -> Any:
    return await twilio.calls.create_async(to=number, from_="+15550000001", twiml=SAY, **extra)


async def test_503_then_429_then_success(
    twilio: Client, control: httpx.AsyncClient, phone: Callable[[], str]
) -> None:
    number = phone()
    view = await set_faults(control, {"calls_create": [503, 429]})
    assert view["calls_create"] == [503, 429] and view["served"] == []
    for status, code in [(503, 20503), (429, 20429)]:
        with pytest.raises(TwilioRestException) as refused:
            await create(twilio, number)
        assert (refused.value.status, refused.value.code) == (status, code)
        assert await calls_to(control, number) == []  # a faulted create creates no call
    call = await create(twilio, number)
    assert call.sid.startswith("CA")
    assert [c["sid"] for c in await calls_to(control, number)] == [call.sid]
    view = await faults(control)
    assert view["calls_create"] == []
    assert [(s["operation"], s["fault"]) for s in view["served"]] == [
        ("calls_create", 503),
        ("calls_create", 429),
    ]
    assert all(s["at"] for s in view["served"])


async def test_fault_answers_look_like_twilio(control: httpx.AsyncClient) -> None:
    await set_faults(control, {"calls_create": [429, 500, 503], "retry_after_s": 3})
    auth = (SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN)
    throttled = await control.post(CALLS, data={"To": "+15551230001"}, auth=auth)
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "3"
    assert throttled.json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    broken = await control.post(CALLS, data={"To": "+15551230001"}, auth=auth)
    assert broken.status_code == 500 and broken.json()["code"] == 20500
    assert "retry-after" not in broken.headers
    unauthorized = await control.post(CALLS, data={}, auth=("AC" + "0" * 32, "wrong"))
    assert unauthorized.status_code == 401  # auth comes first and consumes no fault
    assert (await faults(control))["calls_create"] == [503]


async def test_timeout_holds_the_request(
    twilio: Client, control: httpx.AsyncClient, phone: Callable[[], str]
) -> None:
    number = phone()
    await set_faults(control, {"calls_create": ["timeout", "timeout"], "timeout_s": 0.4})
    impatient = CarrierHttpClient(str(control.base_url), timeout=0.1)  # its timeout applies
    client = Client(SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, http_client=impatient)
    try:
        with pytest.raises(TimeoutError):
            await create(client, number)
    finally:
        await close_twilio_client(client)
    started = time.perf_counter()
    with pytest.raises(TwilioRestException) as refused:
        await create(twilio, number)  # a patient client sees the 504 once the hold ends
    assert refused.value.status == 504 and time.perf_counter() - started >= 0.4
    assert (await create(twilio, number)).sid.startswith("CA")
    assert len(await calls_to(control, number)) == 1
    assert [s["fault"] for s in (await faults(control))["served"]] == ["timeout", "timeout"]


async def test_outage_window(
    twilio: Client, control: httpx.AsyncClient, phone: Callable[[], str]
) -> None:
    number = phone()
    view = await set_faults(control, {"calls_create_rate": {"status": 503, "seconds": 0.3}})
    assert view["calls_create_rate"]["status"] == 503
    started, refusals = time.perf_counter(), 0
    while True:
        try:
            call = await create(twilio, number)
            break
        except TwilioRestException as refused:
            assert refused.status == 503
            refusals += 1
            await asyncio.sleep(0.05)
    assert time.perf_counter() - started >= 0.3 and refusals >= 2
    assert [c["sid"] for c in await calls_to(control, number)] == [call.sid]
    assert len((await faults(control))["served"]) == refusals


async def test_messages_create_faults(twilio: Client, control: httpx.AsyncClient) -> None:
    await set_faults(control, {"messages_create": [500]})
    send = twilio.messages.create_async
    with pytest.raises(TwilioRestException) as refused:
        await send(to="+15551230001", from_="+15550000001", body="hi")
    assert (refused.value.status, refused.value.code) == (500, 20500)
    message = await send(to="+15551230001", from_="+15550000001", body="hi")
    assert message.sid.startswith("SM")


async def test_duplicate_status_callbacks(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    await set_faults(control, {"status_callbacks": {"duplicate": True}})
    call = await create(
        twilio,
        phone(),
        status_callback=product.url("/status"),
        status_callback_event=["initiated", "completed"],
    )
    log = await wait_ended(control, call.sid)
    hits = product.hits_to("/status")
    assert [h.params["CallStatus"] for h in hits] == ["initiated"] * 2 + ["completed"] * 2
    for first, second in (hits[0:2], hits[2:4]):
        assert first.params == second.params and first.signature == second.signature
        assert first.idempotency_token == second.idempotency_token != ""
        assert first.signature_valid and second.signature_valid
    assert [c.get("duplicate", False) for c in log["callbacks"]] == [False, True] * 2
    served = (await faults(control))["served"]
    assert [(s["operation"], s["fault"]) for s in served] == [("status_callback", "duplicate")] * 2


async def test_delayed_status_callbacks(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    await set_faults(control, {"status_callbacks": {"delay_s": 0.3}})
    started = time.perf_counter()
    call = await create(twilio, phone(), status_callback=product.url("/status"))
    log = await wait_ended(control, call.sid)
    assert time.perf_counter() - started >= 0.3
    assert [h.params["CallStatus"] for h in product.hits_to("/status")] == ["completed"]
    assert "duplicate" not in log["callbacks"][0]
    served = (await faults(control))["served"]
    assert [(s["fault"], s["delay_s"]) for s in served] == [("delay", 0.3)]


@pytest.mark.parametrize(
    "plan",
    [
        {"calls_create": [200]},
        {"calls_create": [499]},
        {"calls_create": ["slow"]},
        {"calls_create_rate": {"status": 429}},
        {"status_callbacks": {"reverse": True}},
        {"calls": [503]},
    ],
)
async def test_bad_plans_are_refused(control: httpx.AsyncClient, plan: dict[str, Any]) -> None:
    response = await control.put("/_sandbox/faults", json=plan)
    assert response.status_code == 422
    assert (await faults(control))["calls_create"] == []


async def test_reset_and_delete_clear_faults(
    twilio: Client, control: httpx.AsyncClient, phone: Callable[[], str]
) -> None:
    plan = {"calls_create": [503], "status_callbacks": {"duplicate": True}}
    await set_faults(control, plan)
    await control.post("/_sandbox/reset")
    view = await faults(control)
    assert view["calls_create"] == [] and view["served"] == []
    assert view["status_callbacks"]["duplicate"] is False
    assert (await create(twilio, phone())).sid.startswith("CA")

    await set_faults(control, {"calls_create_rate": {"status": 429, "seconds": 60}})
    cleared = (await control.delete("/_sandbox/faults")).json()
    assert cleared["calls_create_rate"] is None
    assert (await create(twilio, phone())).sid.startswith("CA")
