"""Benchmark the carrier sandbox: calls.create through the real async twilio client.

    .venv/bin/python bench/sandbox.py [--rate 100] [--seconds 10] [--workers 8]
    .venv/bin/python bench/sandbox.py --lifecycle [--rate 20] [--seconds 10]

Starts the sandbox in a subprocess on a free port (time scale 1: each call rings and runs its
TwiML for real, so the server carries ~100 live calls while it answers), then:
  1. open loop: creates at a fixed rate; latency counted from each create's scheduled start,
     so a stalled server cannot hide its queueing (no coordinated omission);
  2. closed loop: N workers create back to back; maximum creates/s.

`--lifecycle` instead measures the sandbox's CPU per speed-to-lead call (time scale 0.001): a
stand-in product in this process answers the product's own TwiML (whisper, bridge with a
machine-detected <Dial>, disposition prompt, goodbye) and status callbacks, so each create
costs the sandbox what a lead costs it in `bench/speed_to_lead.py`: 10 webhooks, two legs.
"""

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from aiohttp import web
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.carrier import build_twilio_client, close_twilio_client  # noqa: E402
from app.config import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, Settings  # noqa: E402
from app.voice import twiml  # noqa: E402

TWIML = "<Response><Say>This is a benchmark call.</Say></Response>"
SERVE = (
    "from sandbox.server import serve; "
    "serve('127.0.0.1', {port}, account_sid='{sid}', auth_token='{token}', time_scale={scale})"
)
LIFECYCLE_TIME_SCALE = 0.001
REP_SCRIPT = {"answer": "human", "answer_after_s": 1, "digits": "1"}


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


class StandInProduct:
    """The product's side of a lead's call, minus the database: the same TwiML documents."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.hits = 0
        self.finished = 0  # leads whose rep call reported "completed"
        self.target = 0
        self.reached = asyncio.Event()  # set once `finished` reaches `target`

    def app(self) -> web.Application:
        app = web.Application()
        for name in ("rep", "choice", "dial-result", "disposition"):
            app.router.add_post(f"/twilio/voice/{name}", self.voice)
        app.router.add_post("/twilio/status/rep", self.status)
        app.router.add_post("/twilio/status/lead", self.status)
        return app

    def urls(self, attempt: str) -> dict[str, str]:
        query = f"?attempt={attempt}"
        return {
            name: f"{self.base}/twilio/{kind}/{path}{query}"
            for name, kind, path in (
                ("choice", "voice", "choice"),
                ("dial_result", "voice", "dial-result"),
                ("disposition", "voice", "disposition"),
                ("lead_status", "status", "lead"),
            )
        }

    async def voice(self, request: web.Request) -> web.Response:
        self.hits += 1
        form = await request.post()
        urls = self.urls(request.query["attempt"])
        step = request.path.rsplit("/", 1)[1]
        if step == "rep":
            prompt = "New lead from bench: Ada Lovelace. message: Call me"
            document = twiml.one_key(urls["choice"], 6, prompt, "Press 1 to call them now.")
        elif step == "choice":
            lead_phone = f"+1666{form['To'][-7:]}"
            document = twiml.bridge(lead_phone, "+14155550100", urls, 30)
        elif step == "dial-result":
            document = twiml.disposition_prompt(urls["disposition"], 6)
        else:
            document = twiml.goodbye("Thank you.")
        return web.Response(text=document, content_type="application/xml")

    async def status(self, request: web.Request) -> web.Response:
        self.hits += 1
        form = await request.post()
        if request.path.endswith("/rep") and form["CallStatus"] == "completed":
            self.finished += 1
            if self.finished >= self.target:
                self.reached.set()
        return web.Response(status=204)


async def script_reps(base: str, count: int) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for n in range(count):
            response = await http.put(f"/_sandbox/phones/{rep_phone(n)}", json=REP_SCRIPT)
            response.raise_for_status()


def rep_phone(n: int) -> str:
    return f"+1555{n:07d}"


async def lifecycle(port: int, server: psutil.Process, args: argparse.Namespace) -> None:
    """Open loop of full lead calls; the sandbox's CPU seconds per call, not latency."""
    product_port = free_port()
    product = StandInProduct(f"http://127.0.0.1:{product_port}")
    runner = web.AppRunner(product.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", product_port).start()
    client = build_twilio_client(sandbox_settings(port))
    count = int(args.rate * args.seconds)
    await script_reps(f"http://127.0.0.1:{port}", count + 20)

    async def lead_call(n: int) -> None:
        attempt = f"a{n}"
        await client.calls.create_async(  # type: ignore[attr-defined]
            to=rep_phone(n),
            from_="+14155550100",
            url=f"{product.base}/twilio/voice/rep?attempt={attempt}",
            status_callback=f"{product.base}/twilio/status/rep?attempt={attempt}",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            timeout=20,
        )

    async def open_loop(first: int, calls: int) -> float:
        """Run `calls` lead calls at the rate; return the sandbox's CPU seconds they cost."""
        loop = asyncio.get_running_loop()
        before = server.cpu_times()
        product.target = product.finished + calls
        product.reached.clear()
        start = loop.time() + 0.05

        async def one(n: int) -> None:
            await asyncio.sleep(max(0.0, start + (n - first) / args.rate - loop.time()))
            await lead_call(n)

        await asyncio.gather(*(one(n) for n in range(first, first + calls)))
        try:
            await asyncio.wait_for(product.reached.wait(), args.seconds + 60)
        except TimeoutError:
            print(f"only {calls - product.target + product.finished} of {calls} calls finished")
        await asyncio.sleep(0.2)  # the last callbacks' bookkeeping
        after = server.cpu_times()
        return (after.user + after.system) - (before.user + before.system)

    await open_loop(count, 20)  # warm up connections and code paths
    hits_before = product.hits
    cpu_s = await open_loop(0, count)
    print(
        f"lifecycle @ {args.rate:.0f}/s: {count} lead calls, {product.finished - 20} finished, "
        f"{(product.hits - hits_before) / count:.1f} webhooks each; "
        f"sandbox CPU {cpu_s * 1000 / count:.2f} ms per call ({cpu_s:.2f} s in all)"
    )
    await close_twilio_client(client)
    await runner.cleanup()


def sandbox_settings(port: int) -> Settings:
    return Settings(
        _env_file=None,
        twilio_account_sid="",
        twilio_auth_token=SecretStr(""),
        sandbox_host="127.0.0.1",
        sandbox_port=port,
    )


async def run(port: int, args: argparse.Namespace) -> None:
    client = build_twilio_client(sandbox_settings(port))
    for n in range(50):  # warm up connections and code paths
        await create(client, 9_000_000 + n)
    await open_loop(client, args.rate, args.seconds)
    await asyncio.sleep(2)
    await closed_loop(client, args.workers, args.seconds / 2)
    await close_twilio_client(client)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=None, help="100/s; --lifecycle: 20/s")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--lifecycle", action="store_true", help="CPU per full lead call")
    args = parser.parse_args()
    args.rate = args.rate or (20.0 if args.lifecycle else 100.0)
    port = free_port()
    scale = LIFECYCLE_TIME_SCALE if args.lifecycle else 1.0
    code = SERVE.format(port=port, sid=SANDBOX_ACCOUNT_SID, token=SANDBOX_AUTH_TOKEN, scale=scale)
    server = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[1])
    try:
        print(f"sandbox listening after {wait_until_listening(port):.2f} s")
        if args.lifecycle:
            asyncio.run(lifecycle(port, psutil.Process(server.pid), args))
        else:
            asyncio.run(run(port, args))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
