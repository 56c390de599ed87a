"""Two connections reading one snapshot, so a statistics request uses two cores.

The figures of a month come from a few statements of a few hundred milliseconds each, which
PostgreSQL runs on one core apiece (their percentiles cannot be split across parallel
workers). Run on two connections at once, they answer in about the time of the longest. The
second connection imports the first one's snapshot (pg_export_snapshot), so both read the
database as of the same instant and the figures stay consistent with each other.

The second connection comes from a small pool of its own: a request holds its session's
connection while it waits for a second one, and if both came from one pool, requests each
holding the first could wait on one another until the pool's timeout.
"""

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.db import make_engine

SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
READ_ONLY_SNAPSHOT = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
HELPER_POOL_SIZE = 2

helper_engines: dict[str, AsyncEngine] = {}


@dataclass(frozen=True)
class Readers:
    """Where a statistics request runs its statements. `second` is None when the session's
    rows may be visible to it alone (see readers)."""

    first: AsyncConnection
    second: AsyncConnection | None


def helper_engine(engine: AsyncEngine) -> AsyncEngine:
    url = engine.url.render_as_string(hide_password=False)
    if url not in helper_engines:
        helper_engines[url] = make_engine(url, pool_size=HELPER_POOL_SIZE)
    return helper_engines[url]


async def dispose_helper_engines() -> None:
    for engine in helper_engines.values():
        await engine.dispose()
    helper_engines.clear()


@asynccontextmanager
async def readers(session: AsyncSession, settings: Mapping[str, str]) -> AsyncIterator[Readers]:
    """The session's connection and, for a session bound to an engine, a second connection on
    the same snapshot; each with `settings` SET LOCAL.

    A session bound to a connection instead (a transaction opened around it, as the tests'
    rolled-back sessions are) may hold uncommitted rows no other connection can see, so it
    reads alone. The session's transaction so far is committed: a snapshot's isolation is set
    when a transaction begins, and the request has only read (its API key) before this.
    """
    if not isinstance(session.bind, AsyncEngine):
        first = await session.connection()
        await configure(first, settings)
        yield Readers(first, None)
        return
    await session.commit()
    first = await session.connection(execution_options=READ_ONLY_SNAPSHOT)
    snapshot = (await first.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
    await configure(first, settings)
    async with on_snapshot(helper_engine(session.bind), snapshot) as second:
        await configure(second, settings)
        yield Readers(first, second)


@asynccontextmanager
async def on_snapshot(engine: AsyncEngine, snapshot: str) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction that sees what the exported `snapshot` sees."""
    async with engine.connect() as connection:
        await connection.execution_options(**READ_ONLY_SNAPSHOT)
        async with connection.begin():
            await import_snapshot(connection, snapshot)
            yield connection


async def import_snapshot(connection: AsyncConnection, snapshot: str) -> None:
    # SET TRANSACTION takes no parameters, so the id is checked, then written out.
    if not SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    await connection.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))


async def configure(connection: AsyncConnection, settings: Mapping[str, str]) -> None:
    """SET LOCAL each setting, in one round trip."""
    names = list(settings)
    calls = ", ".join(f"set_config(:name{i}, :value{i}, true)" for i in range(len(names)))
    values = {f"name{i}": name for i, name in enumerate(names)}
    values |= {f"value{i}": settings[name] for i, name in enumerate(names)}
    await connection.execute(text(f"SELECT {calls}"), values)
