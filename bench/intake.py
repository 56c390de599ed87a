"""Form webhooks per second for one API process at p99 under 100 ms, on the embedded stack.

Open-loop load (requests leave on a fixed schedule whether or not earlier ones have answered, so a
slow server cannot slow the load down and hide its own latency) at rising rates; prints each rate's
achieved throughput, latency and where the CPU went, then the highest rate that held p99 < 100 ms
with no errors. The load comes from separate processes speaking raw HTTP/1.1 over keep-alive
connections (see `harness.open_loop`), so it costs the server under test little CPU.

Run: `.venv/bin/python bench/intake.py [--seconds 5] [--rates 200,400,600,800] [--processes 1]`.

`--in-process N` instead calls the ASGI app itself N times a round, one request after another (no
uvicorn, no sockets), and prints the CPU this process spent per webhook, least and median of
`--rounds` rounds: the app's own cost, which other work on the machine can only add to, so the
least of several rounds compares two versions of the code even on a busy machine.
"""

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

from harness import (
    cpu_seconds,
    describe_ms,
    embedded_stack,
    free_port,
    machine_busy_seconds,
    open_loop,
    percentile,
    process,
)

P99_LIMIT = 0.1


async def create_source(env: dict[str, str]) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.db import make_engine
    from app.models import Source

    engine = make_engine(env["DATABASE_URL"], pool_size=1)
    async with async_sessionmaker(engine)() as session, session.begin():
        session.add(Source(slug="bench", name="Bench"))
    await engine.dispose()


class Phones:
    """A new valid US number for every request of the run, so none is a duplicate."""

    def __init__(self) -> None:
        self.next = 0

    def take(self) -> str:
        self.next += 1
        return f"+1415{2_000_000 + self.next:07d}"


def form_post(port: int, phone: str) -> bytes:
    body = json.dumps({"name": "Bench Lead", "phone": phone, "message": "hello"}).encode()
    head = (
        f"POST /hooks/forms/bench HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def run_rate(
    port: int, api_pid: int, phones: Phones, rate: int, seconds: float, processes: int
) -> bool:
    requests = [form_post(port, phones.take()) for _ in range(int(rate * seconds))]
    api_cpu, busy, wall = cpu_seconds(api_pid), machine_busy_seconds(), time.monotonic()
    result = open_loop(port, requests, rate, processes=processes)
    window = time.monotonic() - wall  # includes the load processes' start-up
    api_cpu, busy = cpu_seconds(api_pid) - api_cpu, machine_busy_seconds() - busy
    answered, elapsed = len(result.latencies), result.elapsed
    load = round(100 * result.cpu / window)
    machine = round(100 * busy / window)
    api_ms = 1000 * api_cpu / max(answered, 1)
    ok = not result.errors and percentile(result.latencies, 0.99) < P99_LIMIT
    print(
        f"offered {rate:5d}/s  achieved {answered / elapsed:7.1f}/s  "
        f"{describe_ms(result.latencies)}  errors {len(result.errors)}  "
        f"api {api_ms:4.2f} ms CPU/request  cpu% load {load:3d} machine {machine:3d}/200  "
        f"{'ok' if ok else 'over'}",
        flush=True,
    )
    return ok


def main(rates: list[int], seconds: float, processes: int) -> None:
    with embedded_stack() as env:
        port = free_port()
        env |= {"API_PORT": str(port), "LOG_LEVEL": "WARNING"}
        asyncio.run(create_source(env))
        # One sequence for the whole run: a number sent again would be a duplicate (another
        # path: a rollback and a read of the earlier lead), not the new lead measured here.
        phones = Phones()
        with process(["api"], env, f"http://127.0.0.1:{port}/healthz") as api:
            run_rate(port, api.pid, phones, 100, 2, processes)  # warm the pools and caches
            time.sleep(1)
            passed = [
                rate for rate in rates if run_rate(port, api.pid, phones, rate, seconds, processes)
            ]
    best = max(passed, default=0)
    print(f"sustained: {best} webhooks/s with p99 < 100 ms (one API process, embedded stack)")


def asgi_post(phone: str) -> tuple[dict[str, Any], bytes]:
    body = json.dumps({"name": "Bench Lead", "phone": phone, "message": "hello"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/hooks/forms/bench",
        "raw_path": b"/hooks/forms/bench",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    return scope, body


async def call_app(app: Any, phone: str) -> None:
    scope, body = asgi_post(phone)
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    if statuses != [202]:
        raise RuntimeError(f"the intake answered {statuses}")


async def in_process_round(phones: Phones, requests: int) -> float:
    """CPU milliseconds per webhook over `requests` sequential calls, after 300 to warm up."""
    from app.config import get_settings
    from app.db import get_autocommit_pool, get_engine
    from app.main import app
    from app.queue import close_arq, make_arq

    app.state.arq = make_arq(get_settings().redis_url)
    for _ in range(300):
        await call_app(app, phones.take())
    cpu = time.process_time()
    for _ in range(requests):
        await call_app(app, phones.take())
    cpu = time.process_time() - cpu
    await close_arq(app.state.arq)
    await get_engine().dispose()  # its connections belong to this round's loop
    await get_autocommit_pool().close()
    return 1000 * cpu / requests


def in_process(requests: int, rounds: int) -> None:
    import uvloop

    with embedded_stack() as env:
        asyncio.run(create_source(env))
        os.environ.update(env, LOG_LEVEL="WARNING")
        phones = Phones()
        cpu = sorted(uvloop.run(in_process_round(phones, requests)) for _ in range(rounds))
    print(
        f"in-process: {cpu[0]:.2f} ms CPU per webhook at least, {statistics.median(cpu):.2f} "
        f"median ({rounds} rounds of {requests}; the app alone: no uvicorn, no sockets)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rates", default="200,400,500,600,800")
    parser.add_argument("--processes", type=int, default=1, help="load generator processes")
    parser.add_argument("--in-process", type=int, default=0, metavar="N", help="see above")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of --in-process")
    args = parser.parse_args()
    if args.in_process:
        in_process(args.in_process, args.rounds)
    else:
        main([int(r) for r in args.rates.split(",")], args.seconds, args.processes)
