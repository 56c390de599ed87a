"""Polling the sandbox's call log until a call reaches the state a test expects."""

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

FINAL = {"completed", "busy", "no-answer", "failed", "canceled"}


async def call_log(control: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    response = await control.get(f"/_sandbox/calls/{sid}")
    response.raise_for_status()
    log: dict[str, Any] = response.json()
    return log


async def wait_for(
    control: httpx.AsyncClient,
    sid: str,
    until: Callable[[dict[str, Any]], bool],
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        log = await call_log(control, sid)
        if until(log):
            return log
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"call {sid} never got there: {log}")
        await asyncio.sleep(0.02)


def ended_and_reported(log: dict[str, Any]) -> bool:
    """Final status, and the completed status callback (if any was asked for) delivered."""
    if log["status"] not in FINAL:
        return False
    wants_callback = bool(log["params"].get("StatusCallback")) or bool(
        log["params"].get("Number", {}).get("statusCallback")
    )
    delivered = [c for c in log["callbacks"] if c["kind"] == "status"]
    return not wants_callback or any(c["params"].get("CallStatus") in FINAL for c in delivered)


async def wait_ended(
    control: httpx.AsyncClient, sid: str, timeout_s: float = 5.0
) -> dict[str, Any]:
    return await wait_for(control, sid, ended_and_reported, timeout_s)


def statuses(log: dict[str, Any]) -> list[str]:
    return [entry["status"] for entry in log["statuses"]]
