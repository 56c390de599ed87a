"""The whole dial path for end-to-end tests: the carrier sandbox, the API under uvicorn (so the
sandbox can fetch TwiML from it) and real `firstring worker` processes, all on this machine."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, get_settings
from app.models import Attempt, Lead, Rep, Source
from sandbox.server import create_app as create_sandbox
from tests.conftest import free_port
from tests.email.conftest import Mailbox

TIME_SCALE = 0.01  # a 20 s ring lasts 200 ms


async def serve_in_background(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task


@pytest.fixture(scope="session")
async def sandbox_control(ports: dict[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_sandbox(
        account_sid=SANDBOX_ACCOUNT_SID, auth_token=SANDBOX_AUTH_TOKEN, time_scale=TIME_SCALE
    )
    server, task = await serve_in_background(app, ports["sandbox"])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['sandbox']}") as control:
        yield control
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def api_server(database_url: str, ports: dict[str, int]) -> AsyncIterator[str]:
    from app.main import create_app

    server, task = await serve_in_background(create_app(), ports["api"])
    yield f"http://127.0.0.1:{ports['api']}"
    server.should_exit = True
    await task


def start_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "app", "worker"], env=dict(os.environ))


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


@pytest.fixture(scope="session")
def mail_server(database_url: str) -> Iterator[Mailbox]:
    """A real SMTP server for the worker's follow-up emails, set up before the worker starts."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    os.environ.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(controller.port), SMTP_SECURITY="none")
    get_settings.cache_clear()
    yield box
    controller.stop()


@pytest.fixture(scope="session")
def worker(database_url: str, mail_server: Mailbox) -> Iterator[subprocess.Popen[bytes]]:
    process = start_worker()
    yield process
    stop_worker(process)


@dataclass
class Stack:
    api: httpx.AsyncClient
    control: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]

    async def script(self, phone: str, **script: Any) -> None:
        response = await self.control.put(f"/_sandbox/phones/{phone}", json=script)
        response.raise_for_status()

    async def add_source(self, slug: str = "web", team: str = "default") -> Source:
        async with self.sessions() as session, session.begin():
            source = Source(slug=slug, name="Web form", team=team)
            session.add(source)
        return source

    async def add_rep(self, name: str, phone: str, idle_minutes: int = 0, **extra: Any) -> Rep:
        async with self.sessions() as session, session.begin():
            idle_since = datetime.now(UTC) - timedelta(minutes=idle_minutes)
            rep = Rep(name=name, phone=phone, idle_since=idle_since, **extra)
            session.add(rep)
        return rep

    async def send_lead(self, phone: str, source: str = "web", **fields: str) -> str:
        response = await self.api.post(
            f"/hooks/forms/{source}", json={"name": "Ada Lovelace", "phone": phone, **fields}
        )
        assert response.status_code == 202, response.text
        lead_id: str = response.json()["lead_id"]
        return lead_id

    async def lead(self, lead_id: str) -> Lead:
        async with self.sessions() as session:
            lead = await session.get(Lead, lead_id)
            assert lead is not None
            return lead

    async def attempts(self, lead_id: str) -> list[Attempt]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(Attempt).where(Attempt.lead_id == lead_id).order_by(Attempt.created_at)
            )
            return list(rows)

    async def rep(self, rep_id: Any) -> Rep:
        async with self.sessions() as session:
            rep = await session.get(Rep, rep_id)
            assert rep is not None
            return rep

    async def calls_to(self, phone: str) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = (await self.control.get("/_sandbox/calls")).json()["calls"]
        return [call for call in calls if call.get("to") == phone]


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 15.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def lead_settled(stack: Stack, lead_id: str) -> bool:
    lead = await stack.lead(lead_id)
    if lead.status not in ("connected", "unreached") or lead.live_ring_group is not None:
        return False
    return all(a.ended_at is not None for a in await stack.attempts(lead_id))


async def wait_settled(stack: Stack, lead_id: str, within: float = 15.0) -> None:
    async def settled() -> bool:
        return await lead_settled(stack, lead_id)

    await eventually(settled, within, what=f"lead {lead_id} to settle")


@pytest.fixture
async def stack(
    worker: subprocess.Popen[bytes],
    api_server: str,
    sandbox_control: httpx.AsyncClient,
    live_client: httpx.AsyncClient,
    live_sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Stack]:
    await sandbox_control.post("/_sandbox/reset")
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=api_server, limits=limits, timeout=30) as api:
        yield Stack(api, sandbox_control, live_sessions)


async def add_due_lead(
    session: AsyncSession, *, slug: str, team: str, numbers: str
) -> dict[str, Any]:
    """A lead due for dialing and its team's reps: one idle a minute, one idle an hour (the
    longest idle, whom a round claims), one away. Phones are `numbers` + two digits (00 the
    lead's)."""
    source = Source(slug=slug, name="Web", team=team)
    now = datetime.now(UTC)
    reps = [
        Rep(name="Later", phone=f"{numbers}01", team=team, idle_since=now),
        Rep(
            name="Longest idle",
            phone=f"{numbers}02",
            team=team,
            idle_since=now - timedelta(hours=1),
        ),
        Rep(name="Away", phone=f"{numbers}03", team=team, availability="away"),
    ]
    session.add_all([source, *reps])
    await session.flush()
    lead = Lead(
        source_id=source.id, phone=f"{numbers}00", phone_raw=f"{numbers[2:]}00", dial_due_at=now
    )
    session.add(lead)
    await session.flush()
    return {"lead": lead, "source": source, "reps": reps}
