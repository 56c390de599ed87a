"""Form webhooks per second for one API process at p99 under 100 ms, on the embedded stack.

Open-loop load (requests leave on a fixed schedule whether or not earlier ones have answered, so a
slow server cannot slow the load down and hide its own latency) at rising rates; prints each rate's
achieved throughput and latency, then the highest rate that held p99 < 100 ms with no errors.
Run: `.venv/bin/python bench/intake.py [--seconds 5] [--rates 200,400,600,800]`.
"""

import argparse
import asyncio
import itertools
import time

import httpx
from harness import describe_ms, embedded_stack, free_port, percentile, process

PHONES = (f"+1415555{n:04d}" for n in itertools.count())


async def create_source(base: str, env: dict[str, str]) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.db import make_engine
    from app.models import Source

    engine = make_engine(env["DATABASE_URL"], pool_size=1)
    async with async_sessionmaker(engine)() as session, session.begin():
        session.add(Source(slug="bench", name="Bench"))
    await engine.dispose()


async def post_one(client: httpx.AsyncClient, latencies: list[float], errors: list[int]) -> None:
    payload = {"name": "Bench Lead", "phone": next(PHONES), "message": "hello"}
    start = time.perf_counter()
    try:
        response = await client.post("/hooks/forms/bench", json=payload)
        if response.status_code != 202:
            errors.append(response.status_code)
    except httpx.HTTPError:
        errors.append(0)
    latencies.append(time.perf_counter() - start)


async def run_rate(base: str, rate: int, seconds: float) -> tuple[float, list[float], list[int]]:
    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post_one(client, latencies, errors)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies, errors


async def main(rates: list[int], seconds: float) -> None:
    with embedded_stack() as env:
        port = free_port()
        env |= {"API_PORT": str(port), "LOG_LEVEL": "WARNING"}
        base = f"http://127.0.0.1:{port}"
        await create_source(base, env)
        with process(["api"], env, f"{base}/healthz"):
            await run_rate(base, 100, 1)  # warm the pools
            best = 0
            for rate in rates:
                achieved, latencies, errors = await run_rate(base, rate, seconds)
                ok = not errors and percentile(latencies, 0.99) < 0.1
                best = rate if ok else best
                print(
                    f"offered {rate:5d}/s  achieved {achieved:7.1f}/s  {describe_ms(latencies)}"
                    f"  errors {len(errors)}  {'ok' if ok else 'over'}",
                    flush=True,
                )
    print(f"sustained: {best} webhooks/s with p99 < 100 ms (one API process, embedded stack)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rates", default="200,400,500,600,800")
    args = parser.parse_args()
    asyncio.run(main([int(r) for r in args.rates.split(",")], args.seconds))
