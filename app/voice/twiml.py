"""The TwiML the rep hears: the whisper, the bridge to the lead, and the goodbyes."""

from uuid import UUID

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from app.calls.outcomes import Offer

WHISPER_FIELD_LIMIT = 3
WHISPER_CHARS = 160
IDENTITY_FIELDS = {"name", "first_name", "last_name", "full_name", "phone", "email"}


def lead_name(offer: Offer) -> str:
    parts = [offer.first_name, offer.last_name]
    return offer.full_name or " ".join(p for p in parts if p) or "a new lead"


def what_they_said(offer: Offer) -> str:
    """A few of the form's own answers, short: enough for the rep to open the call well."""
    answers = [
        f"{key}: {value}"
        for key, value in offer.fields.items()
        if value
        and key.lower() not in IDENTITY_FIELDS
        and value not in (offer.phone_raw, offer.email)
    ][:WHISPER_FIELD_LIMIT]
    text = ". ".join(answers)
    return text if len(text) <= WHISPER_CHARS else text[: WHISPER_CHARS - 3] + "..."


def whisper(offer: Offer, choice_url: str, gather_seconds: int) -> str:
    return one_key(
        choice_url,
        gather_seconds,
        f"New lead from {offer.source_name}: {lead_name(offer)}. {what_they_said(offer)}",
        "Press 1 to call them now. Press 3 to pass.",
    )


def bridge(lead_phone: str, caller_id: str, urls: dict[str, str], ring_seconds: int) -> str:
    response = VoiceResponse()
    # Machine detection only labels the call: the rep stays on, and a short voicemail that
    # names them makes the next call more likely to be answered.
    response.say("Connecting you now. If voicemail answers, leave a short message with your name.")
    dial = Dial(
        answer_on_bridge=True,
        caller_id=caller_id,
        timeout=ring_seconds,
        action=urls["dial_result"],
        method="POST",
    )
    dial.number(
        lead_phone,
        status_callback=urls["lead_status"],
        # Only what the outcome needs: the Dial action already reports how the leg ended.
        status_callback_event="answered completed",
        status_callback_method="POST",
        machine_detection="Enable",
    )
    response.append(dial)
    return str(response)


def disposition_prompt(action_url: str, gather_seconds: int) -> str:
    """After the lead hangs up, the rep says in one key how it went (see outcomes.DISPOSITIONS)."""
    return one_key(
        action_url,
        gather_seconds,
        "Call ended. Press 1 if they are interested, 2 if not interested, "
        "3 to call back later, 4 for a wrong number.",
    )


def one_key(action_url: str, gather_seconds: int, *prompts: str) -> str:
    """Prompts inside a one-digit Gather whose action is called with or without a key: no key
    (a voicemail answering, a rep who hangs up) is an answer too."""
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


def goodbye(message: str | None = None) -> str:
    response = VoiceResponse()
    if message:
        response.say(message)
    response.hangup()
    return str(response)


def attempt_urls(base: str, attempt_id: UUID) -> dict[str, str]:
    query = f"?attempt={attempt_id}"
    return {
        "choice": f"{base}/twilio/voice/choice{query}",
        "dial_result": f"{base}/twilio/voice/dial-result{query}",
        "disposition": f"{base}/twilio/voice/disposition{query}",
        "lead_status": f"{base}/twilio/status/lead{query}",
    }
