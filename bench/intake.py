"""Form webhooks per second for one API process at p99 under 100 ms, on the embedded stack.

Open-loop load (requests leave on a fixed schedule whether or not earlier ones have answered, so a
slow server cannot slow the load down and hide its own latency) at rising rates; prints each rate's
achieved throughput, latency and where the CPU went, then the highest rate that held p99 < 100 ms
with no errors. The load comes from separate processes speaking raw HTTP/1.1 over keep-alive
connections (see `harness.open_loop`), so it costs the server under test little CPU.

Run: `.venv/bin/python bench/intake.py [--seconds 5] [--rates 200,400,600,800] [--processes 1]`.
"""

import argparse
import asyncio
import json
import time

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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rates", default="200,400,500,600,800")
    parser.add_argument("--processes", type=int, default=1, help="load generator processes")
    args = parser.parse_args()
    main([int(r) for r in args.rates.split(",")], args.seconds, args.processes)
