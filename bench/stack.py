"""The whole product on one machine for end-to-end benchmarks: embedded PostgreSQL and Redis, the
carrier sandbox, one API process and one worker process, plus seeding and CPU accounting.

    with full_stack(time_scale=0.001, calls_per_second=5000) as stack:
        await seed_source(stack.database_url, "bench")
        phones = await seed_reps(stack.database_url, 200)
        await script_phones(stack.sandbox_base, phones)
        stack.restart_worker({"WORKER_POLL_DELAY_SECONDS": "0.01"})
"""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import httpx
import psutil
from harness import ROOT, embedded_stack, free_port, process

# Valid US numbers (phonenumbers.is_valid_number), so intake accepts them: 10,000 per exchange.
LEAD_AREA, REP_AREA = "415", "650"


def lead_phone(n: int) -> str:
    return f"+1{LEAD_AREA}{201 + n // 10_000:03d}{n % 10_000:04d}"


def rep_phone(n: int) -> str:
    return f"+1{REP_AREA}{201 + n // 10_000:03d}{n % 10_000:04d}"


@dataclass
class Stack:
    env: dict[str, str]
    api_base: str
    sandbox_base: str
    api: subprocess.Popen[bytes]
    sandbox: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes] | None = None
    worker_env: dict[str, str] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    def start_worker(self, overrides: dict[str, str] | None = None) -> None:
        """One `python -m app worker`; readiness is proven later by a lead being dialed."""
        self.worker_env = dict(overrides or {})
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"],
            env={**os.environ, **self.env, **self.worker_env},
            cwd=ROOT,
        )

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.terminate()
            try:
                self.worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
            self.worker = None

    def restart_worker(self, overrides: dict[str, str] | None = None) -> None:
        self.stop_worker()
        self.start_worker(overrides)

    def pids(self) -> dict[str, int]:
        found = {"api": self.api.pid, "sandbox": self.sandbox.pid}
        if self.worker is not None:
            found["worker"] = self.worker.pid
        return found


@contextmanager
def full_stack(
    *, time_scale: float, calls_per_second: float, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """Embedded stores, then sandbox, API and worker as subprocesses on free ports."""
    with embedded_stack() as stores, ExitStack() as stack:
        api_port, sandbox_port = free_port(), free_port()
        env = {
            **stores,
            "TWILIO_ACCOUNT_SID": "",  # the carrier sandbox and its fixed credentials
            "TWILIO_AUTH_TOKEN": "",
            "SANDBOX_HOST": "127.0.0.1",
            "SANDBOX_PORT": str(sandbox_port),
            "SANDBOX_TIME_SCALE": repr(time_scale),
            "API_HOST": "127.0.0.1",
            "API_PORT": str(api_port),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
            "TWILIO_CALLS_PER_SECOND": repr(calls_per_second),
            "LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        sandbox_base, api_base = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{api_port}"
        sandbox = stack.enter_context(process(["sandbox"], env, f"{sandbox_base}/_sandbox/health"))
        api = stack.enter_context(process(["api"], env, f"{api_base}/healthz"))
        bench = Stack(env, api_base, sandbox_base, api, sandbox)
        stack.callback(bench.stop_worker)
        yield bench


async def seed_source(database_url: str, slug: str, team: str = "default") -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.db import make_engine
    from app.models import Source

    engine = make_engine(database_url, pool_size=1)
    async with async_sessionmaker(engine)() as session, session.begin():
        session.add(Source(slug=slug, name="Speed to lead bench", team=team))
    await engine.dispose()


async def seed_reps(
    database_url: str, count: int, *, first: int = 0, team: str = "default"
) -> list[str]:
    """`count` available, idle reps; returns their phones."""
    from sqlalchemy import insert
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.db import make_engine
    from app.models import Rep, new_id

    phones = [rep_phone(n) for n in range(first, first + count)]
    engine = make_engine(database_url, pool_size=1)
    async with async_sessionmaker(engine)() as session, session.begin():
        await session.execute(
            insert(Rep),
            [
                {"id": new_id(), "name": f"Rep {n}", "phone": phone, "team": team}
                for n, phone in zip(range(first, first + count), phones, strict=True)
            ],
        )
    await engine.dispose()
    return phones


REP_SCRIPT = {"answer": "human", "answer_after_s": 1, "digits": "1"}


async def script_phones(
    sandbox_base: str, phones: list[str], script: dict[str, object] = REP_SCRIPT
) -> None:
    """Every rep answers after 1 simulated second and presses 1, so each offer ends quickly."""
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=sandbox_base, limits=limits, timeout=120) as client:
        semaphore = asyncio.Semaphore(32)

        async def one(phone: str) -> None:
            async with semaphore:
                for attempt in range(5):  # an overloaded sandbox drops connections; retry
                    try:
                        response = await client.put(f"/_sandbox/phones/{phone}", json=script)
                        response.raise_for_status()
                        return
                    except httpx.TransportError:
                        if attempt == 4:
                            raise
                        await asyncio.sleep(2)

        await asyncio.gather(*(one(phone) for phone in phones))


class CpuMeter:
    """CPU seconds used by each product process between start() and stop(), as % of one core."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.before: dict[str, float] = {}
        self.started = 0.0

    @staticmethod
    def _used(proc: psutil.Process) -> float:
        times = proc.cpu_times()
        return float(times.user + times.system)

    def start(self) -> None:
        self.started = time.monotonic()
        self.before = {name: self._used(proc) for name, proc in self.processes.items()}

    def stop(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return {
            name: 100 * (self._used(proc) - self.before[name]) / elapsed
            for name, proc in self.processes.items()
        }


async def idle_cpu(pids: dict[str, int], seconds: float = 5.0) -> dict[str, float]:
    meter = CpuMeter(pids)
    meter.start()
    await asyncio.sleep(seconds)
    return meter.stop()


def stack_processes(stack: Stack) -> list[psutil.Process]:
    """This bench and everything it started: its children (API, sandbox, worker, Redis) and the
    embedded PostgreSQL, which daemonizes and is found by its socket directory."""
    me = psutil.Process()
    found = {p.pid: p for p in [me, *me.children(recursive=True)]}
    socket_dir = stack.database_url.rsplit("host=", 1)[-1] if "host=" in stack.database_url else ""
    if socket_dir:
        for proc in psutil.process_iter(["cmdline"]):
            if any(socket_dir in part for part in proc.info["cmdline"] or []):
                for p in [proc, *proc.children(recursive=True)]:
                    found[p.pid] = p
    return list(found.values())


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


class MachineMeter:
    """The whole machine's busy CPU, split into this bench's stack and everything else (other
    people's processes share these cores; a phase run while they are busy is slower)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.processes = stack_processes(stack)

    @staticmethod
    def _cpu(proc: psutil.Process) -> float:
        # With its reaped children's: PostgreSQL's autovacuum workers and short-lived backends
        # come and go within a phase, and their CPU then lands in the postmaster's counters.
        try:
            times = proc.cpu_times()
            return float(times.user + times.system + times.children_user + times.children_system)
        except psutil.Error:
            return 0.0

    def start(self) -> None:
        self.groups: dict[str, float] = {}  # % of one core, filled in by stop()
        self.t0, self.busy0 = time.monotonic(), _busy_seconds()
        self.own0 = {p.pid: self._cpu(p) for p in self.processes}

    def stop(self) -> tuple[float, float]:
        """(% of one core used by the stack, % of one core used by everything else)."""
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        busy = _busy_seconds() - self.busy0
        # Processes started meanwhile (new PostgreSQL backends) count whole.
        now = stack_processes(self.stack)
        used = {p.pid: max(self._cpu(p) - self.own0.get(p.pid, 0.0), 0.0) for p in now}
        own = sum(used.values())
        self.groups = {group: 0.0 for group in ("load generator", "postgres", "redis")}
        for proc in now:
            group = process_group(proc)
            if group in self.groups:
                self.groups[group] += 100 * used[proc.pid] / elapsed
        return 100 * own / elapsed, 100 * max(busy - own, 0.0) / elapsed


def process_group(proc: psutil.Process) -> str:
    """'load generator' (this process), 'postgres', 'redis', or 'product' (API, worker, sandbox)."""
    if proc.pid == os.getpid():
        return "load generator"
    try:
        name = proc.name()
    except psutil.Error:
        return "product"
    for group in ("postgres", "redis"):
        if group in name:
            return group
    return "product"


async def wait_for_quiet(stack: Stack, *, threshold: float, max_wait: float) -> float:
    """Wait (up to max_wait s) until other processes use under `threshold` % of one core over a
    second; returns the last reading."""
    deadline = time.monotonic() + max_wait
    while True:
        meter = MachineMeter(stack)
        meter.start()
        await asyncio.sleep(1.0)
        _, others = meter.stop()
        if others < threshold or time.monotonic() >= deadline:
            return others
