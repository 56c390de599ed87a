"""The TwiML the rep hears: the whisper, the bridge to the lead, and the goodbyes.

Written as text, byte for byte what twilio's VoiceResponse writes (tests compare the two):
building the library's element tree cost a whisper or a bridge more CPU than its statement.
"""

from functools import lru_cache
from uuid import UUID
from xml.sax.saxutils import escape

from app.calls.outcomes import Offer

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
# What ElementTree escapes in an attribute beyond &, < and >.
ATTRIBUTE_ENTITIES = {'"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#09;"}


def attribute(value: str) -> str:
    return escape(value, ATTRIBUTE_ENTITIES)


def element(name: str, text: str, attributes: str = "") -> str:
    """An element holding text, empty-tagged without any as ElementTree writes it."""
    return f"<{name}{attributes}>{escape(text)}</{name}>" if text else f"<{name}{attributes} />"


def say(text: str) -> str:
    return element("Say", text)


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
    # Machine detection only labels the call: the rep stays on, and a short voicemail that
    # names them makes the next call more likely to be answered. The lead's status callbacks
    # are only what the outcome needs: the Dial action already reports how the leg ended.
    return (
        f"{DECLARATION}<Response>"
        + say("Connecting you now. If voicemail answers, leave a short message with your name.")
        + f'<Dial action="{attribute(urls["dial_result"])}" answerOnBridge="true"'
        f' callerId="{attribute(caller_id)}" method="POST" timeout="{ring_seconds}">'
        + element(
            "Number",
            lead_phone,
            f' machineDetection="Enable" statusCallback="{attribute(urls["lead_status"])}"'
            ' statusCallbackEvent="answered completed" statusCallbackMethod="POST"',
        )
        + "</Dial></Response>"
    )


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
    return (
        f'{DECLARATION}<Response><Gather action="{attribute(action_url)}"'
        f' actionOnEmptyResult="true" method="POST" numDigits="1" timeout="{gather_seconds}">'
        + "".join(say(prompt) for prompt in prompts)
        + "</Gather></Response>"
    )


@lru_cache(maxsize=16)
def goodbye(message: str | None = None) -> str:
    return f"{DECLARATION}<Response>{say(message) if message else ''}<Hangup /></Response>"


def attempt_urls(base: str, attempt_id: UUID) -> dict[str, str]:
    query = f"?attempt={attempt_id}"
    return {
        "choice": f"{base}/twilio/voice/choice{query}",
        "dial_result": f"{base}/twilio/voice/dial-result{query}",
        "disposition": f"{base}/twilio/voice/disposition{query}",
        "lead_status": f"{base}/twilio/status/lead{query}",
    }
