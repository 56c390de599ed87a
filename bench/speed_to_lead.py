"""Speed to lead, end to end: form webhook sent -> calls.create received by the carrier sandbox.

    .venv/bin/python bench/speed_to_lead.py                    # 10, 50, 200 leads/s, 2,000 burst
    .venv/bin/python bench/speed_to_lead.py --poll-delay 0.01  # the worker with another poll delay
    .venv/bin/python bench/speed_to_lead.py --tune 0.5,0.01,0.005,0.001   # worker tuning, 50/s

One machine runs everything: embedded PostgreSQL and Redis, the carrier sandbox (time scale 0.001,
so a rep's call is over in milliseconds and the rep is free again), one API process, one worker
process, and this load generator (keep-alive HTTP/1.1 on uvloop, in this process; it only schedules
requests and reads the 202s, a few % of a core at 200/s).

Open loop: webhooks leave on a fixed schedule whether or not earlier ones have answered. Each
lead's send time is time.time() just before its request is written to its connection; "dialed"
is the sandbox's `requested_at` of the first rep call whose Url carries one of the lead's
attempt ids.
Both clocks are this machine's. A lead is lost when it was accepted (202) but no rep call reached
the sandbox within --dial-timeout seconds of the phase's last send.

Exits non-zero only when something crashes; missed targets are reported, not failed.
"""

import argparse
import asyncio
import gc
import itertools
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from urllib.parse import parse_qs, urlparse
from uuid import UUID

import aiohttp
import uvloop
from harness import percentile
from stack import (
    REP_SCRIPT,
    CpuMeter,
    MachineMeter,
    Stack,
    full_stack,
    idle_cpu,
    lead_phone,
    script_phones,
    seed_reps,
    seed_source,
    wait_for_quiet,
)

SOURCE = "bench"
LEAD_NUMBERS = itertools.count()
TARGETS = {  # from the issue: (p50, p99) in seconds; None = no target
    10: (None, None),
    50: (0.020, 0.050),
    200: (None, 0.100),
}


@dataclass
class Sent:
    phone: str
    scheduled: float
    sent_at: float = 0.0
    status: int = 0
    lead_id: UUID | None = None


@dataclass
class Phase:
    name: str
    sent: list[Sent]
    wall_s: float
    cpu: dict[str, float]
    stack_cpu: float = 0.0  # % of one core, the whole stack (bench, api, worker, sandbox, stores)
    other_cpu: float = 0.0  # % of one core, every other process on the machine
    quiet_before: float = 0.0
    parts_cpu: dict[str, float] = field(default_factory=dict)  # load generator, postgres, redis
    dialed: dict[UUID, float] = field(default_factory=dict)  # lead -> sandbox requested_at
    breakdown: dict[str, list[float]] = field(default_factory=dict)
    carrier_requests: int = 0  # TwiML fetches and callbacks the sandbox made to the API
    database: dict[str, float] = field(default_factory=dict)  # activity counters over the phase

    @property
    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if s.status == 202 and s.lead_id is not None]

    def latencies(self) -> list[float]:
        return [
            self.dialed[s.lead_id] - s.sent_at for s in self.accepted if s.lead_id in self.dialed
        ]

    @property
    def lost(self) -> int:
        return sum(1 for s in self.accepted if s.lead_id not in self.dialed)

    def send_lag(self) -> list[float]:
        return [s.sent_at - s.scheduled for s in self.sent]


# ---------------------------------------------------------------------------------------- load


class WebhookConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection to the API, one request at a time. The load generator
    shares the machine with the stack it measures: aiohttp's client cost about 0.8 ms of CPU
    per webhook (16 % of a core at 200/s); writing prepared bytes and reading back the status
    and Content-Length body costs a fraction of that."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self.buffer[:head_end]).lower()
        length_at = head.find(b"content-length:")
        length = int(head[length_at + 15 :].split(b"\r\n", 1)[0]) if length_at >= 0 else 0
        total = head_end + 4 + length
        if len(self.buffer) < total:
            return
        status, body = int(head[9:12]), bytes(self.buffer[head_end + 4 : total])
        del self.buffer[:total]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(exc or "closed by the API"))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


class WebhookClient:
    """Posts form webhooks over a pool of keep-alive connections, at most `connections`."""

    def __init__(self, base: str, connections: int) -> None:
        parsed = urlparse(base)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.path = f"/hooks/forms/{SOURCE}"
        self.slots = asyncio.Semaphore(connections)
        self.idle: list[WebhookConnection] = []

    def request(self, body: bytes) -> bytes:
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def connection(self) -> WebhookConnection:
        while self.idle:
            connection = self.idle.pop()
            if connection.transport is not None:
                return connection
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(WebhookConnection, self.host, self.port)
        return connection

    async def post(self, lead: Sent) -> None:
        body = json.dumps({"name": "Bench Lead", "phone": lead.phone, "message": "call me"})
        request = self.request(body.encode())
        async with self.slots:
            lead.sent_at = time.time()
            try:
                async with asyncio.timeout(30):
                    connection = await self.connection()
                    lead.status, answer = await connection.send(request)
            except OSError:
                lead.status = -1  # connection error
                return
            except TimeoutError:
                lead.status = -2  # no answer within 30 s
                return
            self.idle.append(connection)
        if lead.status == 202:
            lead.lead_id = UUID(json.loads(answer)["lead_id"])

    def close(self) -> None:
        for connection in self.idle:
            if connection.transport is not None:
                connection.transport.close()
        self.idle.clear()


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection in the load generator while it sends: a full pass over the bench's
    own heap takes up to 150 ms, after which the late webhooks leave as a burst that the
    product would be blamed for."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def open_loop(stack: Stack, rate: float, seconds: float) -> tuple[list[Sent], float]:
    """`rate` webhooks/s for `seconds`, on schedule; returns the sends and the wall time."""
    count = max(1, int(rate * seconds))
    client = WebhookClient(stack.api_base, 256)
    loop_start = time.time() + 0.05
    leads = [Sent(lead_phone(next(LEAD_NUMBERS)), loop_start + i / rate) for i in range(count)]
    tasks = []
    with collector_paused():
        for lead in leads:
            delay = lead.scheduled - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(client.post(lead)))
        await asyncio.gather(*tasks)
    client.close()
    return leads, time.time() - loop_start


async def burst(stack: Stack, count: int, concurrency: int) -> tuple[list[Sent], float]:
    """`count` webhooks as fast as `concurrency` connections take them."""
    client = WebhookClient(stack.api_base, concurrency)
    start = time.time()
    leads = [Sent(lead_phone(next(LEAD_NUMBERS)), start) for _ in range(count)]
    queue = iter(leads)

    async def sender() -> None:
        for lead in queue:
            await client.post(lead)

    with collector_paused():
        await asyncio.gather(*(sender() for _ in range(concurrency)))
    client.close()
    return leads, time.time() - start


# ------------------------------------------------------------------------------ collecting


async def wait_dialed(stack: Stack, lead_ids: list[UUID], within_s: float) -> None:
    """Until every lead has a rep call whose SID came back, or the timeout; then until no call
    is live (so the sandbox can be reset without cutting a call short)."""
    import asyncpg

    from app.db import async_url

    dsn = async_url(stack.database_url).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            done = await conn.fetchval(
                "select count(distinct lead_id) from attempts "
                "where lead_id = any($1::uuid[]) and rep_call_sid is not null",
                lead_ids,
            )
            if done >= len(lead_ids):
                break
            await asyncio.sleep(0.2)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            live = await conn.fetchval(
                "select count(*) from attempts "
                "where ended_at is null and lead_id = any($1::uuid[])",
                lead_ids,
            )
            if not live:
                break
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


def attempt_of(call: dict[str, Any]) -> UUID | None:
    if call.get("parent_call_sid"):
        return None  # the lead's leg, dialed by <Dial>
    url = call.get("params", {}).get("Url")
    if isinstance(url, list):
        url = url[0] if url else None
    if not url:
        return None
    attempt = parse_qs(urlparse(url).query).get("attempt")
    return UUID(attempt[0]) if attempt else None


async def collect(stack: Stack, phase: Phase) -> None:
    """Join the sandbox's call log to attempts and leads; then the server-side breakdown."""
    import asyncpg

    from app.db import async_url

    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(f"{stack.sandbox_base}/_sandbox/calls") as response:
            calls = (await response.json())["calls"]
    requested: dict[UUID, float] = {}
    phase.carrier_requests = sum(len(call.get("callbacks") or []) for call in calls)
    for call in calls:
        attempt = attempt_of(call)
        if attempt is not None:
            requested[attempt] = datetime.fromisoformat(call["requested_at"]).timestamp()
    lead_ids = [s.lead_id for s in phase.accepted]
    dsn = async_url(stack.database_url).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select id, lead_id, webhook_received_at, job_started_at, create_sent_at, "
            "sid_returned_at, created_at from attempts where lead_id = any($1::uuid[]) "
            "order by created_at",
            lead_ids,
        )
    finally:
        await conn.close()
    first: dict[UUID, Any] = {}
    for row in rows:
        at = requested.get(row["id"])
        if at is not None and (
            row["lead_id"] not in phase.dialed or at < phase.dialed[row["lead_id"]]
        ):
            phase.dialed[row["lead_id"]] = at
            first[row["lead_id"]] = row
    sent_at = {s.lead_id: s.sent_at for s in phase.accepted}
    parts: dict[str, list[float]] = {
        "send -> webhook_received_at": [],
        "webhook_received_at -> job_started_at": [],
        "job_started_at -> create_sent_at": [],
        "create_sent_at -> sandbox requested_at": [],
        "sandbox requested_at -> sid_returned_at": [],
    }
    for lead_id, row in first.items():
        received, started = row["webhook_received_at"].timestamp(), row["job_started_at"]
        create, sid = row["create_sent_at"], row["sid_returned_at"]
        parts["send -> webhook_received_at"].append(received - sent_at[lead_id])
        if started is not None:
            parts["webhook_received_at -> job_started_at"].append(started.timestamp() - received)
        if started is not None and create is not None:
            parts["job_started_at -> create_sent_at"].append(
                create.timestamp() - started.timestamp()
            )
        if create is not None:
            parts["create_sent_at -> sandbox requested_at"].append(
                phase.dialed[lead_id] - create.timestamp()
            )
        if sid is not None:
            parts["sandbox requested_at -> sid_returned_at"].append(
                sid.timestamp() - phase.dialed[lead_id]
            )
    phase.breakdown = parts


async def reset_sandbox(stack: Stack, rep_phones: list[str]) -> None:
    """Forget the call log (it only grows) and script the reps again (reset forgets scripts)."""
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.post(f"{stack.sandbox_base}/_sandbox/reset") as response:
            response.raise_for_status()
    await script_phones(stack.sandbox_base, rep_phones, REP_BEHAVIOUR["script"])


QUIET = {"threshold": 30.0, "max_wait": 60.0}
# How the sandbox's phones behave (--phones). "compressed": the whole call, ring to hang-up, in
# milliseconds (time scale 0.001), so every call's callbacks land inside the phase: the load of
# a steady state. "realistic": phones at real speed (time scale 1): a rep's phone rings 4 s,
# the rep presses 1 two seconds into the whisper and talks 30 s; a phase then carries each
# call's first seconds (placing, initiated, ringing, answer, whisper) and the rest follows it.
PHONE_MODES: dict[str, dict[str, Any]] = {
    "compressed": {"time_scale": 0.001, "script": REP_SCRIPT, "settle_s": 30.0},
    "realistic": {
        "time_scale": 1.0,
        "script": {
            "answer": "human",
            "answer_after_s": 4,
            "digits": "1",
            "press_after_s": 2,
            "hangup_after_s": 30,
        },
        "settle_s": 120.0,
    },
}
REP_BEHAVIOUR: dict[str, Any] = dict(PHONE_MODES["compressed"])


async def run_phase(
    stack: Stack, name: str, send: Any, rep_phones: list[str], dial_timeout: float
) -> Phase:
    quiet = await wait_for_quiet(stack, **QUIET)
    database_before = await database_activity(stack)
    meter, machine = CpuMeter(stack.pids()), MachineMeter(stack)
    meter.start()
    machine.start()
    sent, wall = await send
    cpu = meter.stop()
    stack_cpu, other_cpu = machine.stop()
    phase = Phase(name, sent, wall, cpu, stack_cpu, other_cpu, quiet, parts_cpu=machine.groups)
    await wait_dialed(stack, [s.lead_id for s in phase.accepted], dial_timeout)
    await collect(stack, phase)
    await asyncio.sleep(STATS_FLUSH_S)
    after = await database_activity(stack)
    phase.database = {k: after[k] - database_before[k] for k in after}
    await reset_sandbox(stack, rep_phones)
    return phase


STATS_FLUSH_S = 1.5  # a PostgreSQL backend publishes its counters about once a second
DATABASE_ACTIVITY = """
select d.xact_commit as transactions, d.tup_inserted as inserted, d.tup_updated as updated,
       t.hot as "updated in place (HOT)", t.vacuums as "autovacuum and autoanalyze runs"
from pg_stat_database d,
     (select sum(n_tup_hot_upd) as hot, sum(autovacuum_count + autoanalyze_count) as vacuums
      from pg_stat_user_tables) t
where d.datname = current_database()
"""


async def database_activity(stack: Stack) -> dict[str, float]:
    """PostgreSQL's counters for the bench database: transactions, rows written, vacuums."""
    import asyncpg

    from app.db import async_url

    dsn = async_url(stack.database_url).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(DATABASE_ACTIVITY)
    finally:
        await conn.close()
    assert row is not None
    return {key: float(value or 0) for key, value in row.items()}


async def warm_up(stack: Stack, rep_phones: list[str]) -> None:
    """A few leads through the whole path: proves the worker is up and warms every pool."""
    for _ in range(3):
        phase = await run_phase(
            stack, "warm-up", open_loop(stack, 20, 1), rep_phones, REP_BEHAVIOUR["settle_s"]
        )
        if phase.accepted and not phase.lost:
            return
        statuses = sorted({s.status for s in phase.sent})
        if 202 not in statuses:
            raise RuntimeError(
                f"warm-up webhooks were refused (statuses {statuses}): see the API log"
            )
    raise RuntimeError("warm-up leads were accepted but not dialed: is the worker running?")


# ------------------------------------------------------------------------------ reporting


def ms(value: float) -> str:
    return f"{value * 1000:7.1f}"


def figures(values: list[float]) -> str:
    if not values:
        return "    n/a     n/a     n/a     n/a"
    return " ".join(ms(percentile(values, f)) for f in (0.5, 0.9, 0.99)) + " " + ms(max(values))


def print_phase(phase: Phase) -> None:
    lat = phase.latencies()
    lag = phase.send_lag()
    rate = len(phase.sent) / phase.wall_s if phase.wall_s else 0
    print(
        f"\n== {phase.name}: {len(phase.sent)} sent in {phase.wall_s:.2f} s ({rate:.0f}/s), "
        f"{len(phase.accepted)} accepted, {len(phase.dialed)} dialed, {phase.lost} lost"
    )
    print(f"   webhook sent -> calls.create received (ms)  p50/p90/p99/max: {figures(lat)}")
    print(
        f"   load generator lag behind schedule (ms)      p50/p99/max:     "
        f"{ms(percentile(lag, 0.5))} {ms(percentile(lag, 0.99))} {ms(max(lag))}"
    )
    print(
        "   CPU while sending (% of one core): "
        + ", ".join(f"{k} {v:.0f}%" for k, v in {**phase.cpu, **phase.parts_cpu}.items())
        + f"; whole stack {phase.stack_cpu:.0f}%, other processes on the machine "
        f"{phase.other_cpu:.0f}% (before: {phase.quiet_before:.0f}%)"
    )
    if phase.dialed:
        per_lead = {
            k: v / 100 * phase.wall_s / len(phase.sent) * 1000
            for k, v in {**phase.cpu, **phase.parts_cpu, "whole stack": phase.stack_cpu}.items()
        }
        print(
            f"   per lead: {phase.carrier_requests / len(phase.dialed):.1f} carrier requests to "
            "the API (TwiML + callbacks); CPU ms "
            + ", ".join(f"{k} {v:.1f}" for k, v in per_lead.items())
        )
    if phase.database and phase.sent:
        print(
            "   database per lead, from the phase's start until its leads were dialed: "
            + ", ".join(f"{k} {v / len(phase.sent):.1f}" for k, v in phase.database.items())
        )
    print("   server side, first rep call of each lead (ms)  p50     p99")
    for part, values in phase.breakdown.items():
        if values:
            print(f"     {part:42s} {ms(percentile(values, 0.5))} {ms(percentile(values, 0.99))}")
    other = [s.status for s in phase.sent if s.status != 202]
    if other:
        print(f"   non-202 answers: {dict(sorted((k, other.count(k)) for k in set(other)))}")


def verdict(rate: int, lat: list[float]) -> str:
    p50_target, p99_target = TARGETS.get(rate, (None, None))
    if not lat or (p50_target is None and p99_target is None):
        return ""
    ok = (p50_target is None or percentile(lat, 0.5) < p50_target) and (
        p99_target is None or percentile(lat, 0.99) < p99_target
    )
    return "met" if ok else "MISSED"


def print_summary(phases: list[tuple[int, Phase]], burst_phase: Phase | None) -> None:
    print(
        "\n| load | sent | accepted | dialed | lost | p50 ms | p90 ms | p99 ms | max ms | target "
        "| stack CPU | others' CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for rate, phase in phases:
        lat = phase.latencies()
        cells = figures(lat).split()
        print(
            f"| {rate} leads/s | {len(phase.sent)} | {len(phase.accepted)} | {len(phase.dialed)} "
            f"| {phase.lost} | {' | '.join(cells)} | {verdict(rate, lat)} "
            f"| {phase.stack_cpu:.0f}% | {phase.other_cpu:.0f}% |"
        )
    if burst_phase is not None:
        lat = burst_phase.latencies()
        start = min(s.sent_at for s in burst_phase.sent)
        done = max(burst_phase.dialed.values()) - start if burst_phase.dialed else float("nan")
        cells = figures(lat).split()
        ok = "met" if done < 10 and not burst_phase.lost else "MISSED"
        print(
            f"| burst {len(burst_phase.sent)} | {len(burst_phase.sent)} | "
            f"{len(burst_phase.accepted)} | {len(burst_phase.dialed)} | {burst_phase.lost} | "
            f"{' | '.join(cells)} | {ok} | {burst_phase.stack_cpu:.0f}% "
            f"| {burst_phase.other_cpu:.0f}% |"
        )
        last_send = max(s.sent_at for s in burst_phase.sent) - start
        print(
            f"\nburst: all {len(burst_phase.sent)} webhooks sent in {last_send:.2f} s; "
            f"every accepted lead dialed {done:.2f} s after the first send; {burst_phase.lost} lost"
        )


# ------------------------------------------------------------------------------ main


def worker_env(poll_delay: float | None, max_jobs: int | None) -> dict[str, str]:
    env = {}
    if poll_delay is not None:
        env["WORKER_POLL_DELAY_SECONDS"] = repr(poll_delay)
    if max_jobs is not None:
        env["WORKER_MAX_JOBS"] = str(max_jobs)
    return env


async def prepare(stack: Stack, args: argparse.Namespace) -> list[str]:
    await seed_source(stack.database_url, SOURCE)
    phones = await seed_reps(stack.database_url, args.reps)
    await script_phones(stack.sandbox_base, phones, REP_BEHAVIOUR["script"])
    return phones


async def run_bench(stack: Stack, args: argparse.Namespace) -> None:
    phones = await prepare(stack, args)
    stack.start_worker(worker_env(args.poll_delay, args.max_jobs))
    await warm_up(stack, phones)
    idle = await idle_cpu(stack.pids(), args.idle_seconds)
    print(
        f"idle CPU over {args.idle_seconds:.0f} s (% of one core): "
        + ", ".join(f"{k} {v:.1f}%" for k, v in idle.items()),
        flush=True,
    )
    phases: list[tuple[int, Phase]] = []
    for rate in args.rates:
        seconds = args.seconds
        phase = await run_phase(
            stack, f"{rate} leads/s", open_loop(stack, rate, seconds), phones, args.dial_timeout
        )
        print_phase(phase)
        phases.append((rate, phase))
        await asyncio.sleep(1)
    burst_phase = None
    if args.burst:
        extra = max(0, args.burst_reps - args.reps)
        if extra:
            phones += await seed_reps(stack.database_url, extra, first=args.reps)
            await script_phones(stack.sandbox_base, phones[args.reps :], REP_BEHAVIOUR["script"])
        print(f"\nburst: {len(phones)} reps available for {args.burst} leads", flush=True)
        burst_phase = await run_phase(
            stack,
            f"burst of {args.burst}",
            burst(stack, args.burst, args.burst_concurrency),
            phones,
            args.dial_timeout,
        )
        print_phase(burst_phase)
    print_summary(phases, burst_phase)


async def run_tuning(stack: Stack, args: argparse.Namespace) -> None:
    phones = await prepare(stack, args)
    rows = []
    for max_jobs in args.tune_max_jobs:
        for poll_delay in args.tune:
            stack.restart_worker(worker_env(poll_delay, max_jobs))
            await warm_up(stack, phones)
            await asyncio.sleep(1)
            idle = await idle_cpu(stack.pids(), args.idle_seconds)
            phase = await run_phase(
                stack,
                f"poll_delay {poll_delay} s, max_jobs {max_jobs}, {args.tune_rate} leads/s",
                open_loop(stack, args.tune_rate, args.seconds),
                phones,
                args.dial_timeout,
            )
            print_phase(phase)
            print(
                f"   idle CPU: worker {idle['worker']:.1f}% (~{1 / poll_delay:.0f} Redis polls/s)",
                flush=True,
            )
            rows.append((poll_delay, max_jobs, idle["worker"], phase))
    print(
        f"\n| poll_delay s | max_jobs | worker idle CPU | worker CPU at {args.tune_rate}/s "
        "| p50 ms | p90 ms | p99 ms | max ms | lost | others' CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for poll_delay, max_jobs, idle_worker, phase in rows:
        cells = figures(phase.latencies()).split()
        print(
            f"| {poll_delay} | {max_jobs} | {idle_worker:.1f}% | {phase.cpu['worker']:.0f}% "
            f"| {' | '.join(cells)} | {phase.lost} | {phase.other_cpu:.0f}% |"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    floats = lambda text: [float(x) for x in text.split(",") if x]  # noqa: E731
    ints = lambda text: [int(x) for x in text.split(",") if x]  # noqa: E731
    parser.add_argument(
        "--rates", type=ints, default=[10, 50, 200], help="leads/s, comma separated"
    )
    parser.add_argument("--seconds", type=float, default=10, help="seconds of load per rate")
    parser.add_argument("--burst", type=int, default=2000, help="leads in the burst (0 = none)")
    parser.add_argument("--burst-concurrency", type=int, default=64)
    parser.add_argument("--reps", type=int, default=200, help="reps for the fixed-rate phases")
    parser.add_argument(
        "--burst-reps",
        type=int,
        default=2200,
        help="reps (in total) for the burst, so no lead waits for a free rep",
    )
    parser.add_argument(
        "--poll-delay",
        type=float,
        default=None,
        help="WORKER_POLL_DELAY_SECONDS for the worker (default: the product's)",
    )
    parser.add_argument(
        "--max-jobs",
        type=int,
        default=None,
        help="WORKER_MAX_JOBS for the worker (default: the product's)",
    )
    parser.add_argument(
        "--phones",
        choices=sorted(PHONE_MODES),
        default="compressed",
        help="how the sandbox's phones behave (see PHONE_MODES)",
    )
    parser.add_argument(
        "--time-scale", type=float, default=None, help="SANDBOX_TIME_SCALE (default: --phones')"
    )
    parser.add_argument("--cps", type=float, default=5000, help="TWILIO_CALLS_PER_SECOND")
    parser.add_argument(
        "--dial-timeout",
        type=float,
        default=None,
        help="seconds after the last send before an undialed lead counts as lost "
        "(default: 30, or 120 with realistic phones, whose calls last that long)",
    )
    parser.add_argument("--idle-seconds", type=float, default=5)
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=30,
        help="before each phase, wait until other processes use under this %% of "
        "one core (the machine may be shared)",
    )
    parser.add_argument("--quiet-wait", type=float, default=60, help="... for at most this long")
    parser.add_argument(
        "--tune",
        type=floats,
        default=[],
        help="poll delays to compare (runs only the tuning sweep)",
    )
    parser.add_argument("--tune-max-jobs", type=ints, default=[100])
    parser.add_argument("--tune-rate", type=int, default=50)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    REP_BEHAVIOUR.update(PHONE_MODES[args.phones])
    if args.time_scale is None:
        args.time_scale = REP_BEHAVIOUR["time_scale"]
    if args.dial_timeout is None:
        args.dial_timeout = REP_BEHAVIOUR["settle_s"]
    QUIET.update(threshold=args.quiet_threshold, max_wait=args.quiet_wait)
    started = time.monotonic()
    with full_stack(time_scale=args.time_scale, calls_per_second=args.cps) as stack:
        print(
            f"stack up in {time.monotonic() - started:.1f} s: api {stack.api_base}, "
            f"sandbox {stack.sandbox_base} (time scale {args.time_scale}), "
            f"TWILIO_CALLS_PER_SECOND={args.cps:g}",
            flush=True,
        )
        uvloop.run(run_tuning(stack, args) if args.tune else run_bench(stack, args))
    print(f"\ntotal {time.monotonic() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
