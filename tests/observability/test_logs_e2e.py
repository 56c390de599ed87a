"""A whole dial with every process logging at DEBUG: no phone number in clear in any line.

The API and the carrier sandbox run in this process on ports of their own, the worker is a
`firstring worker` of its own whose stderr goes to a file; its jobs travel through a Redis
database of their own, so the suite's shared worker cannot take them.
"""

import asyncio
import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, get_settings
from app.observability.logs import JsonFormatter
from sandbox.server import create_app as create_sandbox
from tests.calls.conftest import (
    TIME_SCALE,
    Stack,
    eventually,
    serve_in_background,
    stop_worker,
    wait_settled,
)
from tests.conftest import free_port, isolated_redis_url, truncate_all

LEAD_TYPED = "(415) 555-0142"
REP = "+14155550101"
CLEAR = [
    re.compile(r"(?:\+|%2[Bb])\d{8,15}(?!\d)"),  # E.164, also URL-encoded
    re.compile(r"\(\d{3}\) ?\d{3}-\d{4}"),  # (415) 555-0142
    re.compile(r"(?<![\w-])\d{3}[-. ]\d{3}[-. ]\d{4}(?![\w-])"),  # 415-555-0142
]
DIGIT_RUNS = re.compile(r"\d[\d ().-]*\d")
# The part of each number that masking hides, in any spelling of it.
SECRET_DIGITS = ("4155550142", "4155550101")


@dataclass
class LoggedWorker:
    process: subprocess.Popen[bytes]
    log: Path
    metrics_url: str


@pytest.fixture
async def own_stack(
    database_url: str,
    engine: AsyncEngine,
    live_sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Stack]:
    """API and sandbox on fresh ports, with the settings (callback URL, Redis) to match."""
    api_port, sandbox_port = free_port(), free_port()
    monkeypatch.setenv("PUBLIC_BASE_URL", f"http://127.0.0.1:{api_port}")
    monkeypatch.setenv("SANDBOX_PORT", str(sandbox_port))
    # Two past the configured database: the shared worker has that one, in-process tests the next.
    monkeypatch.setenv("REDIS_URL", isolated_redis_url(os.environ["REDIS_URL"], offset=2))
    get_settings.cache_clear()
    await truncate_all(engine)
    from app.main import create_app

    sandbox = create_sandbox(
        account_sid=SANDBOX_ACCOUNT_SID, auth_token=SANDBOX_AUTH_TOKEN, time_scale=TIME_SCALE
    )
    servers = [await serve_in_background(sandbox, sandbox_port)]
    servers.append(await serve_in_background(create_app(), api_port))
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as api,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{sandbox_port}") as control,
        ):
            yield Stack(api, control, live_sessions)
    finally:
        for server, task in servers:
            server.should_exit = True
            await task
        await truncate_all(engine)
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.fixture
def logged_worker(own_stack: Stack, tmp_path: Path) -> Iterator[LoggedWorker]:
    """`firstring worker` at DEBUG, in JSON, with its metrics on a port of its own."""
    port = free_port()
    env = {**os.environ, "LOG_LEVEL": "DEBUG", "LOG_FORMAT": "json", "METRICS_PORT": str(port)}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"], env=env, stdout=out, stderr=out
        )
    try:
        yield LoggedWorker(process, log, f"http://127.0.0.1:{port}/metrics")
    finally:
        stop_worker(process)


@pytest.fixture
def api_log() -> Iterator[io.StringIO]:
    """Every record of this process at DEBUG, as LOG_LEVEL=DEBUG has it (SQL included), and
    uvicorn's own loggers, which do not propagate, as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    writers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.access")]
    loggers = [*writers, logging.getLogger("sqlalchemy.engine")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    for logger in writers:
        logger.addHandler(handler)
    yield stream
    for logger in writers:
        logger.removeHandler(handler)
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def clear_phones(text: str) -> list[str]:
    found = [match.group() for pattern in CLEAR for match in pattern.finditer(text)]
    for run in DIGIT_RUNS.finditer(text):
        digits = re.sub(r"\D", "", run.group())
        found += [run.group() for secret in SECRET_DIGITS if secret in digits]
    return found


def metric_values(exposition: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


async def worker_metrics(worker: LoggedWorker) -> dict[str, float]:
    async with httpx.AsyncClient() as http:
        return metric_values((await http.get(worker.metrics_url)).text)


async def test_a_full_dial_logs_no_phone_number_in_clear(
    own_stack: Stack, logged_worker: LoggedWorker, api_log: io.StringIO
) -> None:
    stack = own_stack

    async def worker_up() -> bool:
        try:
            await worker_metrics(logged_worker)
        except httpx.HTTPError:
            return False
        return True

    # Until this worker polls, the suite's shared worker (same database, its own Redis) could
    # sweep the lead up and dial it with callbacks to the suite's API.
    await eventually(worker_up, what="the worker to start")
    await stack.add_source()
    await stack.add_rep("Dana", REP)
    await stack.script(REP, answer="human", answer_after_s=1, digits="1")
    lead_id = await stack.send_lead(LEAD_TYPED, message=f"Call me on {LEAD_TYPED}")
    await wait_settled(stack, lead_id)
    assert (await stack.lead(lead_id)).status == "connected"

    async def speed_observed() -> bool:
        found = await worker_metrics(logged_worker)
        return found.get("firstring_speed_to_lead_seconds_count{}", 0) >= 1

    await eventually(speed_observed, what="the worker's speed-to-lead histogram")
    from_worker = await worker_metrics(logged_worker)
    from_api = metric_values((await stack.api.get("/metrics")).text)
    await asyncio.to_thread(stop_worker, logged_worker.process)

    assert from_worker["firstring_dial_stage_seconds_count{stage=carrier}"] >= 1
    assert from_worker["firstring_dial_stage_seconds_count{stage=queue}"] >= 1
    assert from_api["firstring_attempt_outcomes_total{outcome=connected}"] >= 1
    api_text, worker_text = api_log.getvalue(), logged_worker.log.read_text()
    assert all(json.loads(line) for line in worker_text.splitlines())
    assert lead_id in worker_text  # it was this worker that dialed
    assert clear_phones(api_text) == [] and clear_phones(worker_text) == []
    assert "+1415***0142" in api_text and "(415) ***-0142" in api_text
    assert "+1415***0101" in worker_text
