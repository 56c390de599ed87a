"""Benchmark the carrier sandbox: calls.create through the real async twilio client.

    .venv/bin/python bench/sandbox.py [--rate 100] [--seconds 10] [--workers 8]

Starts the sandbox in a subprocess on a free port (time scale 1: each call rings and runs its
TwiML for real, so the server carries ~100 live calls while it answers), then:
  1. open loop: creates at a fixed rate; latency counted from each create's scheduled start,
     so a stalled server cannot hide its queueing (no coordinated omission);
  2. closed loop: N workers create back to back; maximum creates/s.
"""

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.carrier import build_twilio_client, close_twilio_client  # noqa: E402
from app.config import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, Settings  # noqa: E402

TWIML = "<Response><Say>This is a benchmark call.</Say></Response>"
SERVE = (
    "from sandbox.server import serve; "
    "serve('127.0.0.1', {port}, account_sid='{sid}', auth_token='{token}', time_scale=1.0)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_listening(port: int, timeout_s: float = 10.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return time.perf_counter() - started
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("the sandbox did not start")


def report(name: str, latencies_s: list[float], elapsed_s: float) -> None:
    ms = sorted(x * 1000 for x in latencies_s)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{name}: {len(ms)} creates in {elapsed_s:.1f} s = {len(ms) / elapsed_s:.0f}/s; "
        f"p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, max {ms[-1]:.2f} ms"
    )


async def create(client: object, n: int) -> None:
    await client.calls.create_async(  # type: ignore[attr-defined]
        to=f"+1555{n % 10_000_000:07d}",
        from_="+15550000001",
        twiml=TWIML,
        status_callback_event=["initiated", "answered"],
        timeout=20,
    )


async def open_loop(client: object, rate: float, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []

    async def one(n: int, due: float) -> None:
        await asyncio.sleep(max(0.0, due - loop.time()))
        await create(client, n)
        latencies.append(loop.time() - due)

    start = loop.time() + 0.1
    count = int(rate * seconds)
    await asyncio.gather(*(one(n, start + n / rate) for n in range(count)))
    report(f"open loop @ {rate:.0f}/s", latencies, loop.time() - start)


async def closed_loop(client: object, workers: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    start = loop.time()

    async def worker(w: int) -> None:
        n = w * 1_000_000
        while loop.time() - start < seconds:
            sent = loop.time()
            await create(client, n)
            latencies.append(loop.time() - sent)
            n += 1

    await asyncio.gather(*(worker(w) for w in range(workers)))
    report(f"closed loop, {workers} workers", latencies, loop.time() - start)


async def run(port: int, args: argparse.Namespace) -> None:
    settings = Settings(
        _env_file=None,
        twilio_account_sid="",
        twilio_auth_token=SecretStr(""),
        sandbox_host="127.0.0.1",
        sandbox_port=port,
    )
    client = build_twilio_client(settings)
    for n in range(50):  # warm up connections and code paths
        await create(client, 9_000_000 + n)
    await open_loop(client, args.rate, args.seconds)
    await asyncio.sleep(2)
    await closed_loop(client, args.workers, args.seconds / 2)
    await close_twilio_client(client)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    code = SERVE.format(port=port, sid=SANDBOX_ACCOUNT_SID, token=SANDBOX_AUTH_TOKEN)
    server = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[1])
    try:
        print(f"sandbox listening after {wait_until_listening(port):.2f} s")
        asyncio.run(run(port, args))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
