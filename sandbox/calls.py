"""One simulated call leg: ring, answer, detect machines, run TwiML, hang up, report."""

import asyncio
import logging
import math
from collections import deque
from dataclasses import dataclass, field

from sandbox.phones import PhoneScript
from sandbox.records import API_VERSION, CallRecord, log_entry, now, rfc2822
from sandbox.state import Sandbox

logger = logging.getLogger("sandbox.calls")
DEFAULT_TALK_S = 5.0  # a bridge where neither phone is scripted to hang up lasts this long
FAIL_AFTER_S = 0.5
SIP_CODES = {
    "completed": "200",
    "busy": "486",
    "no-answer": "487",
    "failed": "500",
    "canceled": "487",
}
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."


@dataclass(frozen=True)
class TwimlSource:
    """Where the next TwiML document comes from: a URL to fetch, or inline TwiML."""

    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class StatusCallbacks:
    url: str | None = None
    method: str = "POST"
    events: frozenset[str] = frozenset({"completed"})


@dataclass(frozen=True)
class Amd:
    """Answering-machine detection requested for this leg."""

    detect_message_end: bool
    async_callback: str | None = None
    async_method: str = "POST"
    is_async: bool = False


class ApplicationError(Exception):
    """The product's webhook failed; Twilio plays an error and ends the call."""

    def __init__(self, code: int, message: str, url: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.url = url


class CallRun:
    def __init__(
        self,
        sandbox: Sandbox,
        record: CallRecord,
        *,
        source: TwimlSource | None,
        ring_timeout_s: float,
        callbacks: StatusCallbacks,
        amd: Amd | None = None,
        bridged: bool = False,
        talk_limit_s: float | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.record = record
        self.phone: PhoneScript = sandbox.phones.script(record.to)
        self.source = source
        self.ring_timeout_s = ring_timeout_s
        self.callbacks = callbacks
        self.amd = amd
        self.bridged = bridged  # a Dial's child leg stays on the line after its whisper TwiML
        self.talk_limit_s = talk_limit_s
        self.gathers = 0
        self.stopped = asyncio.Event()
        self.finished = asyncio.Event()
        self.redirect_to: TwimlSource | None = None
        self._answered_at: float | None = None
        # Callbacks waiting to be sent, in order, by one sender task while any are pending.
        self._outbox: deque[tuple[str, str, str, dict[str, str]]] = deque()
        self._sender: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            if await self._ring():
                await self._answer()
                await self._converse()
            self.finish("completed")
        except Exception as exc:  # a sandbox bug must not leave the call ringing forever
            logger.exception("call %s crashed", self.record.sid)
            self.record.errors.append(
                log_entry(code=0, message=f"sandbox error: {exc!r}", url=None)
            )
            self.finish("failed")

    async def _ring(self) -> bool:
        """Return True when the phone answers; otherwise finish with the ring's outcome."""
        await asyncio.sleep(0)  # let the REST answer go out while the call is queued
        self.progress("initiated")
        if self.phone.answer == "fail":
            await self.wait_or_stop(FAIL_AFTER_S)
            self.finish("failed")
            return False
        self.progress("ringing")
        answers = self.phone.answer in ("human", "machine")
        if self.phone.answer == "busy":
            ring_s, outcome = min(self.phone.answer_after_s, self.ring_timeout_s), "busy"
        elif answers and self.phone.answer_after_s < self.ring_timeout_s:
            ring_s, outcome = self.phone.answer_after_s, "answer"
        else:
            ring_s, outcome = self.ring_timeout_s, "no-answer"
        if await self.wait_or_stop(ring_s):
            return False
        if outcome != "answer":
            self.finish(outcome)
            return False
        return True

    async def _answer(self) -> None:
        self._answered_at = asyncio.get_running_loop().time()
        self.record.start_time = now()
        self.progress("in-progress", event="answered")
        if self.amd is None:
            return
        if self.amd.is_async:
            self.sandbox.spawn(self._async_amd())
        else:
            await self.wait_or_stop(self.phone.amd_after_s)
            self.record.answered_by = self.phone.answered_by(
                detect_message_end=self.amd.detect_message_end
            )

    async def _async_amd(self) -> None:
        assert self.amd is not None
        await self.sandbox.sleep(self.phone.amd_after_s)
        if self.record.ended:
            return
        self.record.answered_by = self.phone.answered_by(
            detect_message_end=self.amd.detect_message_end
        )
        if self.amd.async_callback:
            params = {
                "CallSid": self.record.sid,
                "AccountSid": self.record.account_sid,
                "AnsweredBy": self.record.answered_by,
                "MachineDetectionDuration": str(int(self.phone.amd_after_s * 1000)),
            }
            self.deliver("amd", self.amd.async_callback, self.amd.async_method, params)

    async def _converse(self) -> None:
        from sandbox.interpreter import Interpreter  # the interpreter drives this class

        deadline = self._hangup_deadline()
        source = self.source
        while not self.stopped.is_set():
            session = asyncio.create_task(Interpreter(self).run(source))
            stopper = asyncio.create_task(self.stopped.wait())
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            done, _ = await asyncio.wait(
                {session, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            stopper.cancel()
            if session in done:
                self._after_session(session)
                if not self.bridged or self.stopped.is_set():
                    return
                remaining = None if deadline is None else deadline - self._clock()
                await self._wait_real_or_stop(remaining)
                return
            session.cancel()
            await asyncio.gather(session, return_exceptions=True)
            if not done:
                self.record.played.append(log_entry(verb="hangup", by="phone"))
                return
            if self.redirect_to is None or self.record.ended:
                return
            source, self.redirect_to = self.redirect_to, None
            self.stopped.clear()

    def _after_session(self, session: asyncio.Task[None]) -> None:
        error = session.exception()
        if isinstance(error, ApplicationError):
            entry = log_entry(code=error.code, message=error.message, url=error.url)
            self.record.errors.append(entry)
            self.record.played.append(log_entry(verb="Say", text=APPLICATION_ERROR))
        elif error is not None:
            raise error

    def _hangup_deadline(self) -> float | None:
        assert self._answered_at is not None
        limit = self.phone.hangup_after_s
        if limit is None:
            limit = self.talk_limit_s
        return None if limit is None else self._answered_at + self.sandbox.scaled(limit)

    def _clock(self) -> float:
        return asyncio.get_running_loop().time()

    async def _wait_real_or_stop(self, seconds: float | None) -> None:
        try:
            async with asyncio.timeout(None if seconds is None else max(0, seconds)):
                await self.stopped.wait()
        except TimeoutError:
            return

    async def wait_or_stop(self, seconds: float | None) -> bool:
        """Wait simulated seconds (None: until stopped); True when the call was stopped."""
        if seconds is None:
            await self.stopped.wait()
            return True
        try:  # asyncio.timeout, unlike wait_for, needs no task of its own (3.11)
            async with asyncio.timeout(self.sandbox.scaled(max(0.0, seconds))):
                await self.stopped.wait()
            return True
        except TimeoutError:
            return False

    @property
    def answered(self) -> bool:
        return self._answered_at is not None

    # -- control -----------------------------------------------------------------------------

    def stop(self, status: str) -> None:
        """End the call now (REST update, parent hangup)."""
        self.finish(status)
        self.stopped.set()

    def redirect(self, source: TwimlSource) -> None:
        self.redirect_to = source
        self.stopped.set()

    def finish(self, status: str) -> None:
        if self.record.ended:
            return
        if self._answered_at is not None:
            elapsed = self._clock() - self._answered_at
            self.record.duration_s = round(elapsed / self.sandbox.time_scale)
        else:
            self.record.duration_s = 0
        self.record.end_time = now()
        self.progress(status, event="completed")
        self.finished.set()
        self.stopped.set()

    # -- callbacks ---------------------------------------------------------------------------

    def call_params(self) -> dict[str, str]:
        """The parameters Twilio sends with every request about this call."""
        record = self.record
        params = {
            "CallSid": record.sid,
            "AccountSid": record.account_sid,
            "From": record.from_,
            "To": record.to,
            "Caller": record.from_,
            "Called": record.to,
            "CallStatus": record.status,
            "Direction": record.direction,
            "ApiVersion": API_VERSION,
        }
        if record.parent_call_sid:
            params["ParentCallSid"] = record.parent_call_sid
        if record.answered_by:
            params["AnsweredBy"] = record.answered_by
        return params

    def progress(self, status: str, *, event: str | None = None) -> None:
        self.record.set_status(status)
        event = event or status
        if self.callbacks.url is None or event not in self.callbacks.events:
            return
        self.record.sequence_number += 1
        params = {
            **self.call_params(),
            "Timestamp": rfc2822(now()) or "",
            "SequenceNumber": str(self.record.sequence_number - 1),
            "CallbackSource": "call-progress-events",
        }
        if event == "completed":
            params["CallDuration"] = str(self.record.duration_s or 0)
            params["Duration"] = str(math.ceil((self.record.duration_s or 0) / 60))
            params["SipResponseCode"] = SIP_CODES.get(status, "200")
        self.deliver("status", self.callbacks.url, self.callbacks.method, params)

    def deliver(self, kind: str, url: str, method: str, params: dict[str, str]) -> None:
        """Send a callback in the background, in order with this call's earlier callbacks."""
        self._outbox.append((kind, url, method, params))
        if self._sender is None or self._sender.done():
            self._sender = self.sandbox.spawn(self._send_outbox())

    async def _send_outbox(self) -> None:
        """One task per burst of callbacks, not one per callback: each waits for the last."""
        while self._outbox:
            kind, url, method, params = self._outbox.popleft()
            try:
                entries = await self.sandbox.send_callback(kind, url, method, params)
            except Exception:  # a sandbox bug must not hold back the call's later callbacks
                logger.exception("call %s: %s callback to %s crashed", self.record.sid, kind, url)
                continue
            self.record.callbacks.extend(entries)
