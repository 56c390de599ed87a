"""The TwiML written as text is byte for byte what twilio's VoiceResponse writes."""

from uuid import uuid4

import pytest
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from app.calls.outcomes import Offer
from app.voice import twiml

ODD = ['Ada & <Co> "quoted"', "tab\there, line\nbreak, cr\r", "Zoë ✓ naïve", "plain", ""]


def library_one_key(action_url: str, gather_seconds: int, *prompts: str) -> str:
    response = VoiceResponse()
    gather = Gather(
        num_digits=1,
        timeout=gather_seconds,
        action=action_url,
        method="POST",
        action_on_empty_result=True,
    )
    for prompt in prompts:
        gather.say(prompt)
    response.append(gather)
    return str(response)


def library_bridge(lead_phone: str, caller_id: str, urls: dict[str, str], seconds: int) -> str:
    response = VoiceResponse()
    response.say("Connecting you now. If voicemail answers, leave a short message with your name.")
    dial = Dial(
        answer_on_bridge=True,
        caller_id=caller_id,
        timeout=seconds,
        action=urls["dial_result"],
        method="POST",
    )
    dial.number(
        lead_phone,
        status_callback=urls["lead_status"],
        status_callback_event="answered completed",
        status_callback_method="POST",
        machine_detection="Enable",
    )
    response.append(dial)
    return str(response)


def library_goodbye(message: str | None) -> str:
    response = VoiceResponse()
    if message:
        response.say(message)
    response.hangup()
    return str(response)


@pytest.mark.parametrize("odd", ODD)
def test_text_twiml_is_the_librarys(odd: str) -> None:
    urls = {
        name: f"https://x.example/{name}?a={odd}&b=1" for name in ("dial_result", "lead_status")
    }
    assert twiml.bridge(odd, odd, urls, 25) == library_bridge(odd, odd, urls, 25)
    assert twiml.one_key(urls["dial_result"], 8, odd, "Press 1.") == library_one_key(
        urls["dial_result"], 8, odd, "Press 1."
    )
    assert twiml.goodbye(odd) == library_goodbye(odd)
    assert twiml.goodbye(None) == library_goodbye(None)
    offer = Offer(uuid4(), odd, odd, None, None, {"note": odd}, "4155550100", None)
    choice = twiml.attempt_urls("http://127.0.0.1:8000", offer.attempt_id)["choice"]
    prompt = f"New lead from {odd}: {twiml.lead_name(offer)}. {twiml.what_they_said(offer)}"
    expected = library_one_key(choice, 6, prompt, "Press 1 to call them now. Press 3 to pass.")
    assert twiml.whisper(offer, choice, 6) == expected
