"""Real PostgreSQL and Redis for every test: the configured test servers, or embedded ones."""

import asyncio
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import asyncpg
import pytest
from arq.connections import ArqRedis
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import get_settings
from app.db import (
    async_url,
    get_autocommit_pool,
    get_engine,
    get_session,
    get_sessionmaker,
    make_engine,
)
from app.embedded import EmbeddedPostgres, EmbeddedRedis
from app.models import Base, Source
from app.stats.readers import dispose_helper_engines

# One database per test run, so runs sharing a server (TEST_DATABASE_URL) never collide.
TEST_DATABASE = f"firstring_test_{os.getpid()}"
# Settings every test process shares: no real carrier, a fast account limit, short leases.
TEST_ENVIRONMENT = {
    "TWILIO_ACCOUNT_SID": "",
    "TWILIO_AUTH_TOKEN": "",
    "TWILIO_CALLS_PER_SECOND": "1000",
    "CLAIM_LEASE_SECONDS": "1",
    "WEBHOOK_RETRY_BASE_SECONDS": "0.05",
    "LOG_LEVEL": "WARNING",
    # Tests run at any hour: calls are allowed around the clock unless a test sets a window.
    "CALLING_WINDOW_START": "00:00",
    "CALLING_WINDOW_END": "24:00",
    # Tests make and roll back sources by the same slugs within a second; a cache test turns it on.
    "SOURCE_CACHE_SECONDS": "0",
}


def plain_url(url: str) -> str:
    return async_url(url).replace("postgresql+asyncpg://", "postgresql://")


async def recreate_database(admin_url: str) -> str:
    conn = await asyncpg.connect(plain_url(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{TEST_DATABASE}"')
    finally:
        await conn.close()
    head, _, query = async_url(admin_url).partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{TEST_DATABASE}" + (f"?{query}" if query else "")


async def drop_database(admin_url: str) -> None:
    conn = await asyncpg.connect(plain_url(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DATABASE}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def stores() -> Iterator[dict[str, str]]:
    """Start embedded servers only for what TEST_DATABASE_URL / TEST_REDIS_URL leave unset."""
    data = Path(tempfile.mkdtemp(prefix="firstring-test-"))
    data.chmod(0o755)
    postgres = EmbeddedPostgres(data / "pg")
    redis = EmbeddedRedis(data / "redis")
    try:
        admin = os.environ.get("TEST_DATABASE_URL") or postgres.start()
        redis_url = os.environ.get("TEST_REDIS_URL") or redis.start(persist=False)
        yield {"admin_url": admin, "redis_url": redis_url}
    finally:
        redis.stop()
        postgres.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def ports() -> dict[str, int]:
    """Chosen once, because PUBLIC_BASE_URL (what callbacks are signed against) names the API."""
    return {"api": free_port(), "sandbox": free_port()}


@pytest.fixture(scope="session")
async def database_url(stores: dict[str, str], ports: dict[str, int]) -> str:
    from app.cli import migrate

    url = await recreate_database(stores["admin_url"])
    os.environ.update(TEST_ENVIRONMENT)
    os.environ.update(
        DATABASE_URL=url,
        REDIS_URL=stores["redis_url"],
        PUBLIC_BASE_URL=f"http://127.0.0.1:{ports['api']}",
        SANDBOX_PORT=str(ports["sandbox"]),
    )
    for cached in (get_settings, get_engine, get_sessionmaker, get_autocommit_pool):
        cached.cache_clear()
    await asyncio.to_thread(migrate, url)
    return url


@pytest.fixture(scope="session")
async def engine(database_url: str, stores: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    await remember_seeded_rows(engine)
    yield engine
    await engine.dispose()
    await get_engine().dispose()
    await dispose_helper_engines()
    await get_autocommit_pool().close()
    await drop_database(stores["admin_url"])


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back, so no test sees another's rows."""
    async with engine.connect() as conn:
        await conn.begin()
        maker = async_sessionmaker(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        async with maker() as session:
            yield session
        await conn.rollback()


def isolated_redis_url(url: str, offset: int = 1) -> str:
    """The Redis database `offset` after the configured one. In-process tests use the next one:
    their jobs stay out of the reach of the shared worker process (which would run them before
    the test looks), and flushing it between tests never empties the worker's queue."""
    if url.startswith("unix://"):
        path, _, query = url.partition("?")
        db = int(dict(parse_qsl(query)).get("db", "0"))
        return f"{path}?db={(db + offset) % 16}"
    parts = urlsplit(url)
    db = parts.path.strip("/")
    current = int(db) if db.isdigit() else 0
    return urlunsplit(parts._replace(path=f"/{(current + offset) % 16}"))


@pytest.fixture
async def arq_redis(database_url: str) -> AsyncIterator[ArqRedis]:
    from app.queue import close_arq, make_arq

    arq = make_arq(isolated_redis_url(get_settings().redis_url))
    await arq.flushdb()
    yield arq
    await close_arq(arq)


def build_client(arq: ArqRedis) -> AsyncClient:
    from app.main import app

    app.state.arq = arq
    return AsyncClient(transport=ASGITransport(app=app), base_url=get_settings().public_base_url)


@pytest.fixture
async def client(session: AsyncSession, arq_redis: ArqRedis) -> AsyncIterator[AsyncClient]:
    """The API over ASGI, sharing the test's rolled-back session."""
    from app.main import app

    async def override() -> AsyncIterator[AsyncSession]:
        yield session
        await session.flush()

    app.dependency_overrides[get_session] = override
    async with build_client(arq_redis) as client:
        yield client
    app.dependency_overrides.clear()


# Rows the migrations seed (the default cadence): put back after every truncation.
SEEDED_TABLES = ("cadences", "cadence_steps")
seeded_rows: dict[str, list[dict[str, Any]]] = {}


async def remember_seeded_rows(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        for name in SEEDED_TABLES:
            table = Base.metadata.tables[name]
            seeded_rows[name] = [dict(row._mapping) for row in await conn.execute(table.select())]


async def truncate_all(engine: AsyncEngine) -> None:
    """Empty every table but for what the migrations seed; a worker still finishing a call
    may deadlock the first try."""
    names = ", ".join(table.name for table in Base.metadata.sorted_tables)
    for attempt in range(5):
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {names} CASCADE"))
                for name in SEEDED_TABLES:
                    if seeded_rows.get(name):
                        await conn.execute(Base.metadata.tables[name].insert(), seeded_rows[name])
            return
        except DBAPIError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.5)


@pytest.fixture
async def live_client(engine: AsyncEngine, arq_redis: ArqRedis) -> AsyncIterator[AsyncClient]:
    """The API with real commits on separate connections, for concurrency; emptied afterwards."""
    await truncate_all(engine)
    async with build_client(arq_redis) as client:
        yield client
    await truncate_all(engine)


@pytest.fixture
async def live_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
async def api_key(session: AsyncSession) -> dict[str, str]:
    from app.apikeys.service import create_api_key

    _, plaintext = await create_api_key(session, name="test")
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.fixture
async def source(session: AsyncSession) -> Source:
    found = Source(slug="landing", name="Landing page", default_region="US")
    session.add(found)
    await session.flush()
    return found


async def create_live_api_key(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """A committed key, for tests whose requests run on their own connections."""
    from app.apikeys.service import create_api_key

    async with sessions() as session, session.begin():
        _, plaintext = await create_api_key(session, name="live-test")
    return {"Authorization": f"Bearer {plaintext}"}
