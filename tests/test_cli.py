"""The `firstring` command as a user runs it: `dev` on embedded defaults, `apikey create`."""

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.apikeys.service import hash_key
from app.models import ApiKey
from tests.conftest import free_port


def processes_using(path: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(path) in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found


def wait_until_healthy(url: str, dev: subprocess.Popen[bytes], within: float = 90) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert dev.poll() is None, "firstring dev exited early"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("firstring dev did not come up")


def test_dev_runs_on_embedded_defaults_and_ctrl_c_stops_everything() -> None:
    data = Path(tempfile.mkdtemp(prefix="firstring-dev-")).resolve()
    api, sandbox = free_port(), free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data),
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "API_PORT": str(api),
        "SANDBOX_PORT": str(sandbox),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{api}",
    }
    dev = subprocess.Popen([sys.executable, "-m", "app", "dev"], env=env, stdout=subprocess.DEVNULL)
    try:
        wait_until_healthy(f"http://127.0.0.1:{api}/readyz", dev)
        lead = httpx.post(
            f"http://127.0.0.1:{api}/hooks/forms/demo",
            json={"name": "Ada Lovelace", "phone": "(415) 555-0142"},
        )
        assert lead.status_code == 202, lead.text
        key = (data / "demo-api-key").read_text().strip()
        read = httpx.get(
            f"http://127.0.0.1:{api}/v1/leads/{lead.json()['lead_id']}",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert read.json()["phone"] == "+14155550142"
        assert processes_using(data), "embedded servers should be running under the data dir"
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=60)
    time.sleep(0.5)
    assert processes_using(data) == []


async def test_apikey_create_prints_a_key_that_is_stored_hashed(
    database_url: str, live_sessions: async_sessionmaker[AsyncSession]
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "apikey",
        "create",
        "crm-sync",
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    plaintext = stdout.decode().strip()
    async with live_sessions() as session, session.begin():
        stored = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plaintext)))
        assert stored is not None and stored.name == "crm-sync"
        await session.delete(stored)
