"""Shared bench plumbing: embedded stores, a product process on a free port, latency figures."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_database  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def embedded_stack() -> Iterator[dict[str, str]]:
    """A throwaway embedded PostgreSQL and Redis, as `make run` uses, migrated."""
    import asyncio

    from app.cli import migrate

    data = Path(tempfile.mkdtemp(prefix="firstring-bench-"))
    data.chmod(0o755)
    postgres, redis = EmbeddedPostgres(data / "pg"), EmbeddedRedis(data / "redis")
    try:
        database_url = asyncio.run(ensure_database(postgres.start()))
        env = {"DATABASE_URL": database_url, "REDIS_URL": redis.start(persist=False)}
        migrate(database_url)
        yield env
    finally:
        redis.stop()
        postgres.stop()


@contextmanager
def process(
    args: list[str], env: dict[str, str], ready_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(
        [sys.executable, "-m", "app", *args], env={**os.environ, **env}, cwd=ROOT
    )
    try:
        wait_until_up(ready_url)
        yield child
    finally:
        child.terminate()
        child.wait(timeout=10)


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe_ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.5) * 1000:6.1f} ms  p90 {percentile(values, 0.9) * 1000:6.1f} ms  "
        f"p99 {percentile(values, 0.99) * 1000:6.1f} ms  max {max(values) * 1000:6.1f} ms"
    )
