"""Shared bench plumbing: embedded stores, a product process on a free port, latency figures."""

import asyncio
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_database  # noqa: E402

# The benches send hundreds of webhooks a second to one source from one address: lift the
# intake's abuse limits so they measure the product, not its flood protection; and they run
# at any hour, so calls are allowed around the clock.
BENCH_LIMITS = {
    "INTAKE_RATE_PER_SOURCE_PER_MINUTE": "100000000",
    "INTAKE_RATE_PER_IP_PER_MINUTE": "100000000",
    "CALLING_WINDOW_START": "00:00",
    "CALLING_WINDOW_END": "24:00",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def embedded_stack() -> Iterator[dict[str, str]]:
    """A throwaway embedded PostgreSQL and Redis, as `make run` uses, migrated."""
    from app.cli import migrate

    data = Path(tempfile.mkdtemp(prefix="firstring-bench-"))
    data.chmod(0o755)
    postgres, redis = EmbeddedPostgres(data / "pg"), EmbeddedRedis(data / "redis")
    try:
        database_url = asyncio.run(ensure_database(postgres.start()))
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.start(persist=False),
            **BENCH_LIMITS,
        }
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
    if not values:
        return "no answers"
    p50, p90, p99 = (percentile(values, f) * 1000 for f in (0.5, 0.9, 0.99))
    top = max(values) * 1000
    return f"p50 {p50:6.1f} ms  p90 {p90:6.1f} ms  p99 {p99:6.1f} ms  max {top:6.1f} ms"


# Open-loop load from separate processes -----------------------------------------------------
#
# The load generator shares the machine's cores with the server under test, so it must cost
# little per request: pre-built HTTP/1.1 requests over keep-alive sockets (asyncio streams on
# uvloop), no client library. It runs in its own processes, each reporting the CPU it used, so a
# run shows whether the load or the server ran out of CPU.


@dataclass
class LoadResult:
    latencies: list[float]  # seconds, from each request's scheduled start to its full response
    errors: list[int]  # status codes other than the expected one; 0 = connection error
    elapsed: float  # wall seconds from the first scheduled request to the last response
    cpu: float  # CPU seconds the load process used


class _Connections:
    """Keep-alive connections, reused most-recently-idle first, opened on demand up to `size`."""

    def __init__(self, port: int, size: int) -> None:
        self.port, self.size, self.opened = port, size, 0
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
        self.idle = asyncio.Queue()

    async def get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle.empty() and self.opened < self.size:
            self.opened += 1
            return await asyncio.open_connection("127.0.0.1", self.port)
        return await self.idle.get()

    def put(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.put_nowait(conn)

    def drop(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        conn[1].close()
        self.opened -= 1


async def _exchange(
    conns: _Connections, request: bytes, expect: int, scheduled: float, result: LoadResult
) -> None:
    try:
        conn = await conns.get()
    except OSError:
        result.errors.append(0)
        return
    try:
        conn[1].write(request)
        head = await conn[0].readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        await conn[0].readexactly(length)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, IndexError):
        conns.drop(conn)
        result.errors.append(0)
        return
    result.latencies.append(time.perf_counter() - scheduled)
    conns.put(conn)
    if status != expect:
        result.errors.append(status)


async def _drive(
    port: int, requests: list[bytes], rate: float, start_at: float, expect: int, connections: int
) -> LoadResult:
    result = LoadResult([], [], 0.0, 0.0)
    conns = _Connections(port, connections)
    tasks = []
    # perf_counter is not comparable across processes: the shared start is on time.time.
    start = time.perf_counter() + (start_at - time.time())
    for i, request in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_exchange(conns, request, expect, scheduled, result)))
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - start
    while conns.opened and not conns.idle.empty():
        conns.drop(conns.idle.get_nowait())
    return result


def _load_process(args: tuple[int, list[bytes], float, float, int, int]) -> LoadResult:
    import uvloop

    cpu = time.process_time()
    result = uvloop.run(_drive(*args))
    result.cpu = time.process_time() - cpu
    return result


def open_loop(
    port: int,
    requests: list[bytes],
    rate: float,
    *,
    processes: int = 1,
    expect: int = 202,
    connections: int = 256,
) -> LoadResult:
    """Send `requests` at `rate`/s in total, spread round-robin over `processes` processes.

    Open loop: each request leaves at its scheduled time whether or not earlier ones have
    answered, and its latency counts from that time, so a slow server cannot slow the load and
    hide its own queueing (no coordinated omission).
    """
    start_at = time.time() + 2.0  # time for the processes to start and import
    shares = [
        (port, requests[k::processes], rate / processes, start_at + k / rate, expect, connections)
        for k in range(processes)
    ]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_load_process, shares)
    return LoadResult(
        latencies=[x for part in parts for x in part.latencies],
        errors=[x for part in parts for x in part.errors],
        elapsed=max(part.elapsed for part in parts),
        cpu=sum(part.cpu for part in parts),
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process and its reaped children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")
