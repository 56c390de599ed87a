"""Fault injection for reliability tests: refused creates, hung requests, outages, odd callbacks.

A plan is set through `PUT /_sandbox/faults`. Only the operations named in `Faults.armed` pay
for it: calls.create and messages.create check that dict once, and nothing else when it is empty.
"""

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sandbox.errors import TwilioApiError
from sandbox.records import log_entry

CALLS_CREATE = "calls_create"
MESSAGES_CREATE = "messages_create"
STATUS_CALLBACK = "status_callback"


def http_error(status: int) -> int:
    """A 4xx or 5xx status with a standard reason phrase (used as the error message)."""
    if 400 <= status <= 599 and status in {s.value for s in HTTPStatus}:
        return status
    raise ValueError(f"{status} is not a standard HTTP error status")


HttpError = Annotated[int, AfterValidator(http_error)]
Fault = HttpError | Literal["timeout"]

# Twilio's REST error codes for the statuses a test is likely to inject; others get 20000 + status.
TWILIO_CODES = {429: 20429, 500: 20500, 502: 20500, 503: 20503, 504: 20500}


class Outage(BaseModel):
    """Every create answers `status` for `seconds` real seconds from the moment the plan is set."""

    model_config = ConfigDict(extra="forbid")

    status: HttpError
    seconds: float = Field(gt=0, le=3600)


class CallbackFaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duplicate: bool = False  # deliver each status callback twice, byte for byte (same signature)
    reverse: Literal[False] = False  # out-of-order delivery is not simulated
    delay_s: float = Field(default=0.0, ge=0, le=60)  # real seconds before each callback


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calls_create: list[Fault] = []
    messages_create: list[Fault] = []
    calls_create_rate: Outage | None = None
    messages_create_rate: Outage | None = None
    timeout_s: float = Field(default=15.0, gt=0, le=300)  # how long a "timeout" holds, real s
    retry_after_s: int = Field(default=1, ge=0)  # the Retry-After header sent with a 429
    status_callbacks: CallbackFaults = CallbackFaults()


@dataclass
class Pending:
    """What is left for one operation: queued faults, then an outage window (monotonic time)."""

    queue: deque[Fault]
    outage: Outage | None = None
    outage_until: float = 0.0

    def take(self, moment: float) -> Fault | None:
        if self.outage is not None and moment < self.outage_until:
            return self.outage.status
        return self.queue.popleft() if self.queue else None

    def outage_view(self, moment: float) -> dict[str, Any] | None:
        if self.outage is None:
            return None
        remaining = max(0.0, self.outage_until - moment)
        return {**self.outage.model_dump(), "remaining_s": round(remaining, 3)}


@dataclass
class Faults:
    plan: FaultPlan = field(default_factory=FaultPlan)
    armed: dict[str, Pending] = field(default_factory=dict)
    served: list[dict[str, Any]] = field(default_factory=list)

    def set(self, plan: FaultPlan) -> None:
        """Replace the plan; the served log starts afresh with it."""
        self.clear()
        self.plan = plan
        started = time.monotonic()
        for operation in (CALLS_CREATE, MESSAGES_CREATE):
            queue: deque[Fault] = deque(getattr(plan, operation))
            outage: Outage | None = getattr(plan, f"{operation}_rate")
            if queue or outage:
                until = started + outage.seconds if outage else 0.0
                self.armed[operation] = Pending(queue, outage, until)

    def clear(self) -> None:
        self.plan = FaultPlan()
        self.armed.clear()
        self.served.clear()

    def record(self, operation: str, fault: int | str, **details: Any) -> None:
        self.served.append(log_entry(operation=operation, fault=fault, **details))

    async def serve(self, operation: str) -> None:
        """Raise the fault due for this request; return (and disarm) once none is left."""
        pending = self.armed.get(operation)
        fault = pending.take(time.monotonic()) if pending else None
        if fault is None:
            self.armed.pop(operation, None)
            return
        self.record(operation, fault)
        if fault == "timeout":
            await asyncio.sleep(self.plan.timeout_s)
            raise injected_error(504)
        raise injected_error(fault, retry_after_s=self.plan.retry_after_s)

    def view(self) -> dict[str, Any]:
        moment = time.monotonic()
        view: dict[str, Any] = {}
        for operation in (CALLS_CREATE, MESSAGES_CREATE):
            pending = self.armed.get(operation, Pending(deque()))
            view[operation] = list(pending.queue)
            view[f"{operation}_rate"] = pending.outage_view(moment)
        return {
            **view,
            "timeout_s": self.plan.timeout_s,
            "retry_after_s": self.plan.retry_after_s,
            "status_callbacks": self.plan.status_callbacks.model_dump(),
            "served": self.served,
        }


def injected_error(status: int, *, retry_after_s: int = 1) -> TwilioApiError:
    code = TWILIO_CODES.get(status, 20000 + status)
    headers = {"Retry-After": str(retry_after_s)} if status == 429 else None
    return TwilioApiError(status, code, HTTPStatus(status).phrase, headers=headers)
