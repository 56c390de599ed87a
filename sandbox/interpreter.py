"""Runs TwiML documents on a live call, fetching each one from the product like Twilio does."""

from collections.abc import Awaitable, Callable
from typing import Literal
from urllib.parse import urljoin

from sandbox import errors
from sandbox.callbacks import WebhookResult, delivery_log
from sandbox.calls import ApplicationError, CallRun, TwimlSource
from sandbox.records import log_entry
from sandbox.twiml import TwimlError, Verb, gathered_digits, parse, seconds_of

Hangup = Literal["hangup"]
HANGUP: Hangup = "hangup"
# What a verb tells the interpreter: go on (None), hang up, or continue with another document.
Step = TwimlSource | Hangup | None


class Interpreter:
    def __init__(self, call: CallRun) -> None:
        self.call = call
        self.record = call.record
        self.sandbox = call.sandbox
        self.current_url: str | None = None

    async def run(self, source: TwimlSource | None) -> None:
        while source is not None:
            step = await self.execute(await self.load(source))
            source = step if isinstance(step, TwimlSource) else None

    async def load(self, source: TwimlSource) -> list[Verb]:
        if source.twiml is not None:
            document = source.twiml
        else:
            document = await self.fetch(source)
        self.record.documents.append(
            log_entry(url=source.url, method=source.method, twiml=document)
        )
        try:
            return parse(document)
        except TwimlError as exc:
            raise ApplicationError(errors.DOCUMENT_PARSE_FAILURE, str(exc), source.url) from None

    async def fetch(self, source: TwimlSource) -> str:
        assert source.url is not None
        params = {**self.call.call_params(), **source.extra}
        result = await self.sandbox.webhooks.send(source.url, source.method, params)
        self.record.callbacks.append(
            delivery_log("twiml", source.url, source.method, params, result)
        )
        check_twiml_response(result, source.url)
        self.current_url = source.url
        return result.text

    async def execute(self, verbs: list[Verb]) -> Step:
        for verb in verbs:
            step = await self.perform(verb)
            if step is not None:
                return step
        return HANGUP  # falling off the end of the document hangs up

    async def perform(self, verb: Verb) -> Step:
        handlers: dict[str, Callable[[Verb], Awaitable[Step]]] = {
            "Say": self.speak,
            "Play": self.speak,
            "Pause": self.speak,
            "Gather": self.gather,
            "Dial": self.dial,
            "Redirect": self.redirect,
            "Hangup": self.hangup,
            "Reject": self.hangup,
        }
        return await handlers[verb.name](verb)

    async def speak(self, verb: Verb) -> Step:
        self.record.played.append(log_entry(verb=verb.name, text=verb.text, attrs=verb.attrs))
        await self.sandbox.sleep(seconds_of(verb))
        return None

    async def gather(self, verb: Verb) -> Step:
        index, self.call.gathers = self.call.gathers, self.call.gathers + 1
        pressed = self.call.phone.digits_for(index)
        self.record.played.append(log_entry(verb="Gather", text="", attrs=verb.attrs))
        for prompt in verb.children:
            await self.speak(prompt)
        timeout = verb.number("timeout", 5.0)
        if pressed and self.call.phone.press_after_s <= timeout:
            await self.sandbox.sleep(self.call.phone.press_after_s)
            digits = gathered_digits(verb, pressed)
        else:
            await self.sandbox.sleep(timeout)
            digits = ""
        self.record.digits.append(log_entry(gather=index, pressed=pressed, digits=digits))
        if not digits and not verb.flag("actionOnEmptyResult"):
            return None
        action = self.resolve(verb.attr("action")) or self.current_url
        if action is None:
            return None
        finish_key = verb.attr("finishOnKey", "#")
        extra = {
            "Digits": digits,
            "FinishedOnKey": finish_key if finish_key in (pressed or "") else "",
        }
        return TwimlSource(url=action, method=verb.attr("method", "POST").upper(), extra=extra)

    async def dial(self, verb: Verb) -> Step:
        from sandbox.dial import run_dial

        return await run_dial(self, verb)

    async def redirect(self, verb: Verb) -> Step:
        self.record.played.append(log_entry(verb="Redirect", text=verb.text, attrs=verb.attrs))
        url = self.resolve(verb.text)
        if url is None:
            raise ApplicationError(errors.DOCUMENT_PARSE_FAILURE, "<Redirect> needs a URL", None)
        return TwimlSource(url=url, method=verb.attr("method", "POST").upper())

    async def hangup(self, verb: Verb) -> Step:
        self.record.played.append(log_entry(verb=verb.name, text="", attrs=verb.attrs))
        return HANGUP

    def resolve(self, url: str) -> str | None:
        """Relative URLs in TwiML resolve against the document's own URL, as in a browser."""
        if not url:
            return None
        return urljoin(self.current_url, url) if self.current_url else url


def check_twiml_response(result: WebhookResult, url: str) -> None:
    if result.error is not None:
        message = f"HTTP connection failure: {result.error}"
        raise ApplicationError(errors.HTTP_CONNECTION_FAILURE, message, url)
    if not result.ok:
        message = f"HTTP retrieval failure: status {result.status_code}"
        raise ApplicationError(errors.HTTP_RETRIEVAL_FAILURE, message, url)
    if "xml" not in result.content_type and "html" not in result.content_type:
        message = f"Invalid Content-Type: {result.content_type or 'none'}"
        raise ApplicationError(errors.INVALID_CONTENT_TYPE, message, url)
