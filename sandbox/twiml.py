"""TwiML documents: parsing, and the pure parts of their semantics (durations, digits)."""

from dataclasses import dataclass
from xml.etree import ElementTree

VERBS = frozenset({"Say", "Play", "Pause", "Gather", "Dial", "Redirect", "Hangup", "Reject"})
NESTED = {
    "Gather": frozenset({"Say", "Play", "Pause"}),
    "Dial": frozenset({"Number", "Client", "Sip"}),
}
WORDS_PER_SECOND = 2.5  # a text-to-speech voice reads about 150 words a minute
PLAY_SECONDS = 2.0  # the sandbox has no audio; every <Play> lasts this long


class TwimlError(Exception):
    """The document is not TwiML the sandbox can run (Twilio error 12100)."""


@dataclass(frozen=True)
class Verb:
    name: str
    attrs: dict[str, str]
    text: str
    children: tuple["Verb", ...] = ()

    def attr(self, name: str, default: str = "") -> str:
        return self.attrs.get(name, default)

    def flag(self, name: str) -> bool:
        return self.attrs.get(name, "false").lower() == "true"

    def number(self, name: str, default: float) -> float:
        try:
            return float(self.attrs[name])
        except (KeyError, ValueError):
            return default


def parse(document: str) -> list[Verb]:
    return [_verb(element, VERBS) for element in response_root(document)]


def response_root(document: str) -> ElementTree.Element:
    """The <Response> of a TwiML document (voice or messaging), refused as Twilio would."""
    if "<!DOCTYPE" in document or "<!ENTITY" in document:
        raise TwimlError("DOCTYPE and entity declarations are not allowed in TwiML")
    try:
        root = ElementTree.fromstring(document.strip())
    except ElementTree.ParseError as exc:
        raise TwimlError(f"Document parse failure: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(f"The root element must be <Response>, not <{root.tag}>")
    return root


def _verb(element: ElementTree.Element, allowed: frozenset[str]) -> Verb:
    if element.tag not in allowed:
        raise TwimlError(f"<{element.tag}> is not supported here")
    nested = NESTED.get(element.tag, frozenset())
    children = tuple(_verb(child, nested) for child in element)
    return Verb(element.tag, dict(element.attrib), (element.text or "").strip(), children)


def loops(verb: Verb) -> int:
    return max(1, int(verb.number("loop", 1)))


def seconds_of(verb: Verb) -> float:
    """How long a Say, Play or Pause keeps the line busy, in simulated seconds."""
    if verb.name == "Say":
        return max(1.0, len(verb.text.split()) / WORDS_PER_SECOND) * loops(verb)
    if verb.name == "Play":
        return PLAY_SECONDS * loops(verb)
    if verb.name == "Pause":
        return verb.number("length", 1.0)
    return 0.0


def gathered_digits(gather: Verb, pressed: str | None) -> str:
    """What a Gather collects from the keys pressed: up to finishOnKey, at most numDigits."""
    if not pressed:
        return ""
    finish_on_key = gather.attr("finishOnKey", "#")
    if finish_on_key and finish_on_key in pressed:
        pressed = pressed.split(finish_on_key, 1)[0]
    num_digits = int(gather.number("numDigits", 0))
    return pressed[:num_digits] if num_digits > 0 else pressed


def dial_targets(dial: Verb) -> list[Verb]:
    """<Dial>+1555...</Dial> is shorthand for one <Number>."""
    if dial.children:
        return list(dial.children)
    return [Verb("Number", {}, dial.text)] if dial.text else []
