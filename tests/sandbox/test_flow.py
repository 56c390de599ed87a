"""The dial DESIGN.md describes: whisper in a Gather, press 1, bridge to the lead."""

from collections.abc import Callable

import httpx
from twilio.rest import Client

from tests.sandbox.conftest import Hit, Product, Reply
from tests.sandbox.helpers import statuses, wait_ended, wait_for

EVENTS = ["initiated", "ringing", "answered", "completed"]


def whisper(product: Product) -> str:
    return (
        f'<Response><Gather numDigits="1" timeout="5" action="{product.url("/gathered")}">'
        "<Say>New lead: Jane Doe from the website. Press 1 to call.</Say></Gather>"
        "<Say>Passing.</Say></Response>"
    )


def bridge(product: Product, lead: str) -> Callable[[dict[str, str]], Reply]:
    def reply(params: dict[str, str]) -> Reply:
        if params.get("Digits") != "1":
            return Reply("<Response><Hangup/></Response>")
        return Reply(
            f'<Response><Dial answerOnBridge="true" callerId="+15550000009" timeout="20" '
            f'action="{product.url("/dialed")}"><Number statusCallback="{product.url("/leg")}" '
            f'statusCallbackEvent="initiated ringing answered completed">{lead}</Number>'
            "</Dial></Response>"
        )

    return reply


async def test_rep_presses_1_and_is_bridged_to_the_lead(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    rep, lead = phone(), phone()
    await control.put(f"/_sandbox/phones/{rep}", json={"answer": "human", "digits": "1"})
    await control.put(f"/_sandbox/phones/{lead}", json={"answer_after_s": 2, "hangup_after_s": 3})
    answer = product.on("/answer", whisper(product))
    product.on("/gathered", bridge(product, lead))
    product.on("/dialed", "<Response><Hangup/></Response>")

    call = await twilio.calls.create_async(
        to=rep,
        from_="+15550000001",
        url=answer,
        timeout=20,
        status_callback=product.url("/status"),
        status_callback_event=EVENTS,
    )
    log = await wait_ended(control, call.sid)
    log = await wait_for(control, call.sid, lambda c: len(c["callbacks"]) >= 7)

    assert statuses(log) == ["initiated", "ringing", "in-progress", "completed"]
    assert all(entry["at"] for entry in log["statuses"]) and log["requested_at"]
    assert [d["digits"] for d in log["digits"]] == ["1"]
    assert len(log["documents"]) == 3  # answer, gathered, dialed

    [child_sid] = log["child_call_sids"]
    child = await wait_ended(control, child_sid)
    assert child["parent_call_sid"] == call.sid and child["from"] == "+15550000009"
    assert statuses(child) == ["initiated", "ringing", "in-progress", "completed"]

    [action] = product.hits_to("/dialed")
    assert action.params["DialCallStatus"] == "completed"
    assert action.params["DialCallSid"] == child_sid
    # The lead hangs up after 3 simulated seconds (30 ms here): a loaded machine can add one.
    assert action.params["DialCallDuration"] in ("3", "4")

    status_hits = product.hits_to("/status")
    assert [h.params["CallStatus"] for h in status_hits] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [h.params["SequenceNumber"] for h in status_hits] == ["0", "1", "2", "3"]
    assert status_hits[-1].params["CallDuration"] == str(log["duration"])
    leg_hits = await_leg_hits(product)
    assert {h.params["ParentCallSid"] for h in leg_hits} == {call.sid}
    assert all(hit.signature_valid for hit in product.hits if hit.path.startswith(product.prefix))


def await_leg_hits(product: Product) -> list[Hit]:
    hits = product.hits_to("/leg")
    assert [h.params["CallStatus"] for h in hits][:3] == ["initiated", "ringing", "in-progress"]
    return hits


async def test_silence_at_the_gather_falls_through(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    rep = phone()  # unscripted: answers, presses nothing
    answer = product.on("/answer", whisper(product))
    call = await twilio.calls.create_async(to=rep, from_="+15550000001", url=answer)
    log = await wait_ended(control, call.sid)
    assert [d["digits"] for d in log["digits"]] == [""]
    assert [p["text"] for p in log["played"] if p["verb"] == "Say"][-1] == "Passing."
    assert product.hits_to("/gathered") == []


async def test_successive_gathers_use_successive_digits(
    twilio: Client, control: httpx.AsyncClient, product: Product, phone: Callable[[], str]
) -> None:
    rep = phone()
    await control.put(f"/_sandbox/phones/{rep}", json={"digits": ["2", "9#"]})
    first = product.on(
        "/first", f'<Response><Gather action="{product.url("/second")}"/></Response>'
    )
    product.on("/second", f'<Response><Gather action="{product.url("/done")}"/></Response>')
    product.on("/done", "<Response><Say>Bye</Say></Response>")
    call = await twilio.calls.create_async(to=rep, from_="+15550000001", url=first)
    log = await wait_ended(control, call.sid)
    assert [d["digits"] for d in log["digits"]] == ["2", "9"]
    assert product.hits_to("/done")[0].params["FinishedOnKey"] == "#"
