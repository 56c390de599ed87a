"""The stats endpoints over a million attempts: each query's median and max of 5 runs, in ms.

    .venv/bin/python bench/stats.py                      # embedded PostgreSQL, thrown away after
    .venv/bin/python bench/stats.py --admin-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/stats.py --attempts 200000 --leads 60000    # a quicker look
    .venv/bin/python bench/stats.py --admin-url ... --keep             # keep the seeded database
    .venv/bin/python bench/stats.py --database-url URL   # measure a database --keep left again

Seeds 2 teams, 5 sources, 50 reps, 300,000 leads received over the last 30 days and 1,000,000
attempts (INSERT ... SELECT generate_series, so seeding takes a minute, not an hour), then
VACUUM ANALYZE. A lead gets a Poisson-like number of attempts (about 3.3 on average, a few % none);
half the attempts are placed within 5 s of the lead's receipt, the rest up to two days later;
outcomes follow a plausible mix (a quarter connected); the triggers on attempts count them per
lead into lead_outcomes as they are inserted. The leads' call summary (first call, first rep
answer, connection, touches) is then computed from the attempts, as the migration that added it
did (app.stats.summary.REBUILD). Each case calls the service function the endpoint calls
(queries plus building the response), 5 times in a row; the slowest case of each endpoint is then
shown with EXPLAIN (ANALYZE, BUFFERS) of its queries. The target is < 500 ms. The database (or the
embedded server) is dropped at the end, unless --keep.
"""

import argparse
import asyncio
import gc
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from harness import ROOT  # noqa: F401  (puts the project on sys.path)
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db import async_url, make_engine
from app.stats import service, summary
from app.stats.schemas import Bucket

TARGET_MS = 500.0
SEED = """
INSERT INTO teams (slug) VALUES ('red'), ('blue');
INSERT INTO sources (id, slug, name, team)
SELECT gen_random_uuid(), 'src-' || i, 'Source ' || i,
       CASE WHEN i % 2 = 0 THEN 'red' ELSE 'blue' END
FROM generate_series(1, 5) i;
INSERT INTO reps (id, name, phone, team, availability)
SELECT gen_random_uuid(), 'Rep ' || lpad(i::text, 2, '0'), '+1415600' || lpad(i::text, 4, '0'),
       CASE WHEN i % 2 = 0 THEN 'red' ELSE 'blue' END, 'offline'
FROM generate_series(1, 50) i;
CREATE TEMP TABLE bench_sources AS SELECT row_number() OVER (ORDER BY slug) AS n, id FROM sources;
CREATE TEMP TABLE bench_reps AS SELECT row_number() OVER (ORDER BY name) - 1 AS n, id FROM reps;
INSERT INTO leads (id, source_id, status, phone, phone_raw, received_at, created_at, updated_at)
SELECT gen_random_uuid(), s.id, 'unreached', '+1' || (2000000000 + g.i), '' || (2000000000 + g.i),
       g.t, g.t, g.t
FROM (SELECT i, now() - random() * interval '30 days' AS t FROM generate_series(1, {leads}) i) g
JOIN bench_sources s ON s.n = 1 + g.i % 5;
CREATE TEMP TABLE bench_leads AS
SELECT row_number() OVER () AS n, id, received_at FROM leads;
CREATE INDEX ON bench_leads (n);
ANALYZE bench_leads;
INSERT INTO attempts (
    id, lead_id, rep_id, ring_group, routing, status, outcome, webhook_received_at,
    create_sent_at, rep_ringing_at, rep_answered_at, rep_accepted_at, lead_answered_at,
    ended_at, talk_seconds, created_at
)
SELECT gen_random_uuid(), l.id, r.id, gen_random_uuid(), 'longest_idle', 'completed', o.outcome,
       l.received_at, t.sent,
       CASE WHEN o.outcome <> 'failed' THEN t.sent + interval '1 second' END,
       CASE WHEN o.rep_answered THEN t.sent + make_interval(secs => 2 + a.w * 8) END,
       CASE WHEN o.accepted THEN t.sent + make_interval(secs => 11 + a.w * 4) END,
       CASE WHEN o.outcome = 'connected' THEN t.sent + make_interval(secs => 20 + a.w * 20) END,
       t.sent + interval '10 minutes',
       CASE WHEN o.outcome = 'connected' THEN (30 + a.w * 570)::int END,
       t.sent - interval '300 milliseconds'
FROM (
    SELECT g, 1 + (random() * ({leads} - 1))::int AS lead_n, g % 50 AS rep_n,
           random() AS u, random() AS v, random() AS w
    FROM generate_series(1, {attempts}) g
) a
JOIN bench_leads l ON l.n = a.lead_n
JOIN bench_reps r ON r.n = a.rep_n
CROSS JOIN LATERAL (
    SELECT l.received_at + CASE WHEN a.v < 0.5 THEN make_interval(secs => 0.5 + a.v * 9)
                                ELSE make_interval(secs => (a.v - 0.5) ^ 2 * 4 * 172800) END
) t(sent)
CROSS JOIN LATERAL (
    SELECT CASE WHEN a.u < 0.25 THEN 'connected' WHEN a.u < 0.45 THEN 'lead_no_answer'
                WHEN a.u < 0.50 THEN 'lead_busy' WHEN a.u < 0.60 THEN 'lead_voicemail'
                WHEN a.u < 0.75 THEN 'rep_no_answer' WHEN a.u < 0.80 THEN 'rep_declined'
                WHEN a.u < 0.85 THEN 'rep_busy' WHEN a.u < 0.90 THEN 'failed'
                WHEN a.u < 0.93 THEN 'canceled' END
) c(outcome)
CROSS JOIN LATERAL (
    SELECT c.outcome, c.outcome IN ('connected', 'lead_no_answer', 'lead_busy',
                                    'lead_voicemail', 'rep_declined'),
           c.outcome IN ('connected', 'lead_no_answer', 'lead_busy', 'lead_voicemail')
) o(outcome, rep_answered, accepted);
"""


@contextmanager
def embedded_database() -> Iterator[str]:
    """An embedded PostgreSQL in a temporary directory, stopped and deleted afterwards."""
    from app.cli import migrate
    from app.embedded import EmbeddedPostgres, ensure_database

    data = Path(tempfile.mkdtemp(prefix="firstring-bench-stats-"))
    data.chmod(0o755)
    postgres = EmbeddedPostgres(data / "pg")
    try:
        url = asyncio.run(ensure_database(postgres.start()))
        migrate(url)
        yield url
    finally:
        postgres.stop()
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def throwaway_database(admin_url: str, keep: bool) -> Iterator[str]:
    """A fresh database on a running server, dropped afterwards unless `keep`."""
    name = f"firstring_bench_stats_{uuid.uuid4().hex[:8]}"
    plain = async_url(admin_url).replace("postgresql+asyncpg://", "postgresql://")

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(plain)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    from app.cli import migrate

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        head, _, query = plain.partition("?")
        url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
        migrate(url)
        yield url
    finally:
        if keep:
            print(f"\nkept: --database-url {url}")
        else:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def seed(url: str, leads: int, attempts: int) -> None:
    plain = async_url(url).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    try:
        started = time.perf_counter()
        await conn.execute(SEED.format(leads=leads, attempts=attempts))
        await conn.execute(summary.REBUILD)
        seeded = time.perf_counter() - started
        await conn.execute("VACUUM ANALYZE")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM leads) AS leads, (SELECT count(*) FROM attempts) AS a"
        )
        print(
            f"seeded {counts['leads']:,} leads, {counts['a']:,} attempts in {seeded:.0f} s "
            f"(+ VACUUM ANALYZE {time.perf_counter() - started - seeded:.0f} s)",
            flush=True,
        )
    finally:
        await conn.close()


# A case: its name, the queries it runs (for EXPLAIN), and the call the endpoint makes.
Queries = list[Select[Any]]
Case = tuple[str, Callable[[Any], Awaitable[Queries]], Callable[[Any], Awaitable[Any]]]


def cases(now: datetime, rep_id: uuid.UUID) -> list[Case]:
    found: list[Case] = []
    for days in (7, 30):
        win = service.Window(now - timedelta(days=days), now)
        lead_scopes = {
            "": service.LeadScope(win),
            " source": service.LeadScope(win, source="src-1"),
            " team": service.LeadScope(win, team="red"),
            " rep": service.LeadScope(win, rep_id=rep_id),
            " bucket=day": service.LeadScope(win, bucket=Bucket.day),
            " bucket=hour team": service.LeadScope(win, team="red", bucket=Bucket.hour),
        }
        for label, lead_scope in lead_scopes.items():
            found.append(lead_case(f"speed-to-lead {days:2d}d{label}", lead_scope))
        rep_scopes = {
            "": service.RepScope(win),
            " team": service.RepScope(win, team="red"),
            " rep": service.RepScope(win, rep_id=rep_id),
        }
        for label, rep_scope in rep_scopes.items():
            found.append(rep_case(f"reps          {days:2d}d{label}", rep_scope))
    return found


def lead_case(name: str, scope: service.LeadScope) -> Case:
    async def queries(session: Any) -> Queries:
        scoped = await service.scoped(await session.connection(), scope)
        return list(service.speed_to_lead_queries(scoped))

    async def run(session: Any) -> Any:
        return await service.speed_to_lead(session, scope=scope)

    return name, queries, run


def rep_case(name: str, scope: service.RepScope) -> Case:
    async def queries(session: Any) -> Queries:
        return [service.reps_query(scope)]

    async def run(session: Any) -> Any:
        return await service.rep_stats(session, scope=scope)

    return name, queries, run


async def explain(engine: AsyncEngine, query: Select[Any]) -> str:
    compiled = query.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    positional = tuple(params[key] for key in compiled.positiontup or ())
    async with engine.connect() as conn:
        for name, value in service.ANALYTICS_SETTINGS.items():
            await conn.exec_driver_sql(f"SET {name} = '{value}'")
        result = await conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS) " + compiled.string, positional
        )
        return "\n".join(row[0] for row in result)


@asynccontextmanager
async def reading(engine: AsyncEngine, readers: int) -> AsyncIterator[AsyncSession]:
    """A session as the API's: bound to the engine, it reads on two connections at once
    (app.stats.readers); bound to one connection, on that one alone."""
    if readers == 2:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            yield session
        return
    async with engine.connect() as conn, AsyncSession(bind=conn) as session:
        yield session


async def measure(url: str, runs: int, only: str | None, readers: int) -> bool:
    engine = make_engine(url, pool_size=1)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with engine.connect() as conn:
        rep_id = (await conn.exec_driver_sql("SELECT id FROM reps ORDER BY name LIMIT 1")).one()[0]
    results: list[tuple[str, float, float, Queries]] = []
    chosen = [c for c in cases(datetime.now(UTC), rep_id) if c[0].startswith(only or "")]
    gc.freeze()  # as the API does after start-up (app.main): full collections skip all that
    for name, queries, run in chosen:
        times = []
        for _ in range(runs):
            async with reading(engine, readers) as session:
                started = time.perf_counter()
                await run(session)
                times.append((time.perf_counter() - started) * 1000)
        median, top = statistics.median(times), max(times)
        async with sessions() as session:
            results.append((name, median, top, await queries(session)))
        print(f"{name:38s} median {median:7.1f} ms  max {top:7.1f} ms", flush=True)
    for prefix in [only] if only else ["speed-to-lead", "reps"]:
        name, median, _, statements = max(
            (r for r in results if r[0].startswith(prefix)), key=lambda r: r[1]
        )
        print(f"\nslowest {prefix}: {name.strip()} ({median:.1f} ms median)", flush=True)
        for query in statements:
            print(f"\n{await explain(engine, query)}", flush=True)
    await engine.dispose()
    worst = max(r[2] for r in results)
    print(
        f"\nworst max {worst:.1f} ms, worst median {max(r[1] for r in results):.1f} ms "
        f"(target < {TARGET_MS:.0f} ms): {'ok' if worst < TARGET_MS else 'over'}"
    )
    return worst < TARGET_MS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--admin-url", help="a running server; default: embedded PostgreSQL")
    parser.add_argument("--leads", type=int, default=300_000)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=["speed-to-lead", "reps"], help="one endpoint's cases")
    parser.add_argument(
        "--readers",
        type=int,
        choices=[1, 2],
        default=2,
        help="connections per request: 2 as the API (default), 1 to compare",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database (with --admin-url)")
    parser.add_argument(
        "--database-url", help="measure this database, seeded by an earlier --keep run, as it is"
    )
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(measure(args.database_url, args.runs, args.only, args.readers))
        sys.exit(0)

    @contextmanager
    def database() -> Iterator[str]:
        if args.admin_url:
            with throwaway_database(args.admin_url, args.keep) as url:
                yield url
        else:
            with embedded_database() as url:
                yield url

    with database() as url:
        asyncio.run(seed(url, args.leads, args.attempts))
        asyncio.run(measure(url, args.runs, args.only, args.readers))
    sys.exit(0)


if __name__ == "__main__":
    main()
