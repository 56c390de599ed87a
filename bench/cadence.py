"""The follow-up sweeper over 100,000 leads with active cadences: one pass's time, in ms.

    .venv/bin/python bench/cadence.py                    # embedded PostgreSQL and Redis
    .venv/bin/python bench/cadence.py --leads 20000      # a quicker look

Seeds (INSERT ... SELECT generate_series) N leads following the default cadence, each with one
pending step due over the next 14 days and 10 steps already fired, plus 3 messages per lead.
`--due` of the pending steps (default 1,000, twice the sweep batch) are overdue, as after a
worker outage: the worst case for a pass. Then VACUUM ANALYZE, and the sweeper's pass
(workers.cadence.sweep_steps: due steps, unsent messages, interrupted sends, and a wake-up
enqueued in Redis for each due step) runs `--passes` times. Prints the pass's median, p90 and
max, the database part alone, and EXPLAIN (ANALYZE, BUFFERS) of the due-steps query. The target
is < 100 ms per pass.
"""

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

import asyncpg
from harness import embedded_stack

TARGET_MS = 100.0
SEED = """
INSERT INTO sources (id, slug, name) VALUES (gen_random_uuid(), 'bench', 'Bench');
INSERT INTO leads (
    id, source_id, status, phone, phone_raw, received_at, created_at, updated_at,
    cadence_id, cadence_state, cadence_offset
)
SELECT gen_random_uuid(), (SELECT id FROM sources), 'unreached', '+1' || (2000000000 + i),
       '' || (2000000000 + i), t, t, t, '00000000-0000-4000-8000-00000000cade', 'active', 240
FROM (SELECT i, now() - random() * interval '14 days' AS t FROM generate_series(1, {leads}) i) g;
INSERT INTO lead_steps (id, lead_id, cadence_id, kind, channel, delay_minutes, due_at, status,
                        fired_at, created_at, updated_at)
SELECT gen_random_uuid(), l.id, l.cadence_id, 'step', 'call', 240,
       l.received_at + random() * interval '1 day', 'done', now(), now(), now()
FROM leads l CROSS JOIN generate_series(1, 10);
INSERT INTO lead_steps (id, lead_id, cadence_id, kind, channel, delay_minutes, due_at, status,
                        created_at, updated_at)
SELECT gen_random_uuid(), id, cadence_id, 'step', 'call', 1440,
       now() + random() * interval '14 days', 'pending', now(), now()
FROM leads;
UPDATE lead_steps SET due_at = now() - random() * interval '10 minutes'
WHERE id IN (SELECT id FROM lead_steps WHERE status = 'pending' LIMIT {due});
INSERT INTO messages (id, lead_id, channel, direction, to_addr, from_addr, body, status,
                      created_at, updated_at)
SELECT gen_random_uuid(), l.id, 'sms', 'out', l.phone, '+14155550100', 'Hi there', 'delivered',
       l.received_at, l.received_at
FROM leads l CROSS JOIN generate_series(1, 3);
"""
DUE_QUERY = """
EXPLAIN (ANALYZE, BUFFERS)
SELECT id, due_at FROM lead_steps
WHERE status = 'pending' AND due_at <= now() ORDER BY due_at LIMIT {batch}
"""


async def seed(url: str, leads: int, due: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        await conn.execute(SEED.format(leads=leads, due=due))
        await conn.execute("VACUUM ANALYZE")
        print(f"seeded {leads:,} leads in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()


async def explain(url: str, batch: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(DUE_QUERY.format(batch=batch))
        print("\nEXPLAIN (ANALYZE, BUFFERS) of the due-steps query:")
        for row in rows:
            print("   ", row[0])
    finally:
        await conn.close()


def describe(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return (
        f"{name}: p50 {statistics.median(values):.1f} ms, p90 {p90:.1f} ms, "
        f"max {max(values):.1f} ms"
    )


async def measure(passes: int) -> tuple[list[float], list[float], int]:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.config import get_settings
    from app.db import make_engine
    from app.queue import close_arq, make_arq
    from workers import cadence

    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=5)
    ctx: dict[str, Any] = {
        "settings": settings,
        "sessionmaker": async_sessionmaker(engine, expire_on_commit=False),
        "redis": make_arq(settings.redis_url),
    }
    whole, database, found = [], [], 0
    try:
        for _ in range(passes):
            started = time.perf_counter()
            found = await cadence.sweep_steps(ctx)
            whole.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            async with ctx["sessionmaker"]() as session:
                await cadence.due_steps(session, limit=settings.cadence_sweep_batch)
                await cadence.unsent_messages(session, limit=settings.cadence_sweep_batch)
            database.append((time.perf_counter() - started) * 1000)
    finally:
        await close_arq(ctx["redis"])
        await engine.dispose()
    return whole, database, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--passes", type=int, default=30)
    args = parser.parse_args()
    with embedded_stack() as env:
        os.environ.update(env)
        url = env["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
        asyncio.run(seed(url, args.leads, args.due))
        whole, database, found = asyncio.run(measure(args.passes))
        batch = int(os.environ.get("CADENCE_SWEEP_BATCH", "500"))
        print(f"\n{args.leads:,} leads with a pending step, {args.due:,} of them overdue")
        print(f"each pass found {found} due steps (batch {batch}); {args.passes} passes")
        print(describe("sweeper pass", whole))
        print(describe("  its database queries", database))
        verdict = "met" if statistics.median(whole) < TARGET_MS else "MISSED"
        print(f"target < {TARGET_MS:.0f} ms per pass: {verdict}")
        asyncio.run(explain(url, batch))


if __name__ == "__main__":
    main()
