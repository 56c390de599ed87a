"""`firstring dev`: the whole product on one machine, with a demo source and demo reps."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from uuid import UUID

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.apikeys.service import Scope, create_api_key, revoke_api_key
from app.config import Settings
from app.db import make_engine
from app.models import Rep, Source
from app.sms.dev import route_sandbox_sms

DEMO_SOURCE = "demo"
# Fictional 555-01xx numbers: the sandbox scripts them to answer and press 1.
DEMO_REPS = {"Dana Demo": "+14155550101", "Riley Demo": "+14155550102"}
DEMO_LEAD_PHONE = "(415) 555-0142"


async def create_key(database_url: str, name: str, scopes: list[Scope] | None = None) -> str:
    engine = make_engine(database_url, pool_size=1)
    async with async_sessionmaker(engine)() as session, session.begin():
        _, plaintext = await create_api_key(session, name=name, scopes=scopes)
    await engine.dispose()
    return plaintext


async def revoke_key(database_url: str, key_id: UUID) -> None:
    engine = make_engine(database_url, pool_size=1)
    async with async_sessionmaker(engine)() as session, session.begin():
        await revoke_api_key(session, key_id=key_id)
    await engine.dispose()


async def seed_demo(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    async with async_sessionmaker(engine)() as session, session.begin():
        if await session.scalar(select(Source.id).where(Source.slug == DEMO_SOURCE)) is None:
            # The demo calls at any hour: a real source waits for the lead's calling hours.
            demo = Source(
                slug=DEMO_SOURCE,
                name="Demo landing page",
                default_region="US",
                after_hours_policy="call_now",
            )
            session.add(demo)
            for name, phone in DEMO_REPS.items():
                session.add(Rep(name=name, phone=phone))
    await engine.dispose()


def demo_api_key(settings: Settings) -> str:
    """The dev key is kept in the data directory so every `make run` can print it again."""
    path = settings.data_dir / "demo-api-key"
    if not path.exists():
        path.write_text(asyncio.run(create_key(settings.database_url, "demo")))
        path.chmod(0o600)
    return path.read_text().strip()


def script_demo_phones(settings: Settings) -> None:
    for phone in DEMO_REPS.values():
        httpx.put(
            f"{settings.sandbox_url}/_sandbox/phones/{phone}",
            json={"answer": "human", "answer_after_s": 2, "digits": "1"},
        ).raise_for_status()


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "app", *args], env={**os.environ, **env})


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def banner(settings: Settings, key: str) -> str:
    base = f"http://{settings.api_host}:{settings.api_port}"
    return f"""
FirstRing is running.
  API          {base}   (docs: {base}/docs)
  Carrier      {settings.carrier_base_url}{"  (sandbox)" if settings.uses_sandbox else ""}
  Data         {Path(settings.data_dir).resolve()}
  API key      {key}

Send a lead:
  curl -s -X POST {base}/hooks/forms/{DEMO_SOURCE} -H 'Content-Type: application/json' \\
    -d '{{"name": "Ada Lovelace", "phone": "{DEMO_LEAD_PHONE}", "message": "Call me"}}'
Read it back:
  curl -s {base}/v1/leads/LEAD_ID -H 'Authorization: Bearer {key}'
Press Ctrl-C to stop everything.
"""


def run_dev(settings: Settings, env: dict[str, str]) -> None:
    from app.cli import migrate

    migrate(settings.database_url)
    asyncio.run(seed_demo(settings.database_url))
    key = demo_api_key(settings)
    children: list[subprocess.Popen[bytes]] = []
    stop = install_stop_handler()
    try:
        if settings.uses_sandbox:
            children.append(spawn(["sandbox"], env))
            wait_for(f"{settings.sandbox_url}/_sandbox/calls")
            script_demo_phones(settings)
            route_sandbox_sms(settings)
        children.append(spawn(["api"], env))
        children.append(spawn(["worker"], env))
        wait_for(f"http://{settings.api_host}:{settings.api_port}/healthz")
        print(banner(settings, key), flush=True)
        while not stop.is_set() and all(child.poll() is None for child in children):
            stop.wait(0.5)
    finally:
        terminate(children)


class StopFlag:
    def __init__(self) -> None:
        self._set = False

    def set(self, signum: int, frame: FrameType | None) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)


def install_stop_handler() -> StopFlag:
    flag = StopFlag()
    signal.signal(signal.SIGINT, flag.set)
    signal.signal(signal.SIGTERM, flag.set)
    return flag


def terminate(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
