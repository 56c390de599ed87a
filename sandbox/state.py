"""The sandbox's whole state: phones, our numbers, calls, messages, tasks, in one process."""

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import httpx

from sandbox.callbacks import Webhooks, delivery_log
from sandbox.faults import STATUS_CALLBACK, Faults
from sandbox.numbers import NumberBook
from sandbox.phones import PhoneBook
from sandbox.records import CallRecord, MessageRecord

if TYPE_CHECKING:
    from sandbox.calls import CallRun


class Sandbox:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        time_scale: float,
        callback_timeout_s: float,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.time_scale = time_scale
        self.webhooks = Webhooks(auth_token, callback_timeout_s, webhook_transport)
        self.phones = PhoneBook()
        self.numbers = NumberBook()
        self.faults = Faults()
        self.calls: dict[str, CallRecord] = {}
        self.runs: dict[str, CallRun] = {}
        self.messages: dict[str, MessageRecord] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale

    async def sleep(self, seconds: float) -> None:
        """Sleep for simulated seconds."""
        await asyncio.sleep(self.scaled(seconds))

    def busy(self) -> bool:
        """Whether any call (or other background work) is in progress."""
        return bool(self._tasks)

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start background work that reset() and shutdown can cancel."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def send_callback(
        self, kind: str, url: str, method: str, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        """Deliver a status callback, late and/or twice if the fault plan says so; log entries."""
        plan = self.faults.plan.status_callbacks
        if plan.delay_s:
            self.faults.record(STATUS_CALLBACK, "delay", url=url, delay_s=plan.delay_s)
            await asyncio.sleep(plan.delay_s)
        request = self.webhooks.signed_request(url, method.upper(), params)
        result = await self.webhooks.deliver(method, *request)
        entries = [delivery_log(kind, url, method, params, result)]
        if plan.duplicate:  # the very same request again: same signature, same idempotency token
            self.faults.record(STATUS_CALLBACK, "duplicate", url=url)
            result = await self.webhooks.deliver(method, *request)
            entries.append({**delivery_log(kind, url, method, params, result), "duplicate": True})
        return entries

    async def reset(self) -> None:
        await self.cancel_all()
        self.faults.clear()
        self.phones.clear()
        self.numbers.clear()
        self.calls.clear()
        self.runs.clear()
        self.messages.clear()

    async def aclose(self) -> None:
        await self.cancel_all()
        await self.webhooks.aclose()
