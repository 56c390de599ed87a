"""A call's callbacks leave one at a time, in order; a crash in one does not stop the rest."""

import asyncio
from typing import Any

import pytest

from sandbox.calls import CallRun, StatusCallbacks
from sandbox.records import CallRecord
from sandbox.state import Sandbox

URL = "http://product.test/status"


async def test_callbacks_go_in_order_past_a_crash(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = Sandbox(account_sid="AC1", auth_token="t", time_scale=0.01, callback_timeout_s=1)
    record = CallRecord(account_sid="AC1", to="+15550001111", from_="+15550002222", params={})
    run = CallRun(sandbox, record, source=None, ring_timeout_s=1, callbacks=StatusCallbacks())
    sent: list[str] = []

    async def send_callback(
        kind: str, url: str, method: str, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        sent.append(params["n"])
        await asyncio.sleep(0.01)  # later callbacks are asked for while this one is on the wire
        if params["n"] == "1":
            raise RuntimeError("boom")
        return [{"n": params["n"]}]

    monkeypatch.setattr(sandbox, "send_callback", send_callback)
    for n in "123":
        run.deliver("status", URL, "POST", {"n": n})
    await asyncio.sleep(0.1)
    run.deliver("status", URL, "POST", {"n": "4"})  # after the others were all sent
    await asyncio.sleep(0.05)
    assert sent == ["1", "2", "3", "4"]
    assert record.callbacks == [{"n": "2"}, {"n": "3"}, {"n": "4"}]
    assert f"status callback to {URL} crashed" in caplog.text
    await sandbox.aclose()
