"""The database engine and the one-session-per-request dependency; the intake's autocommit pool."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from functools import lru_cache
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import get_settings
from app.errors import AppError, database_unavailable

logger = logging.getLogger("firstring.db")


def async_url(url: str) -> str:
    """Accept the plain postgres:// URLs people paste and use the asyncpg driver for them."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


POOL_SIZE = 10
POOL_RECYCLE_SECONDS = 1800


def make_engine(url: str, pool_size: int = POOL_SIZE) -> AsyncEngine:
    # No pre-ping: it costs a round trip per request. A connection lost to a database restart
    # fails one request with a 503 (see app.errors) and is replaced.
    return create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=10, pool_recycle=POOL_RECYCLE_SECONDS
    )


@lru_cache
def get_engine() -> AsyncEngine:
    return make_engine(get_settings().database_url)


@lru_cache
def get_sessionmaker() -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(get_engine(), expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with get_sessionmaker()() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": commit before the response is sent, so a 2xx always means "stored".
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


# SessionDep's session, as a context manager.
session_scope = asynccontextmanager(get_session)


def request_session(request: Request) -> AbstractAsyncContextManager[AsyncSession]:
    """SessionDep's session, for the busiest routes, which open it themselves rather than
    through FastAPI's dependency solving: committed on success, rolled back on error, and
    replaced as a Depends(get_session) would be by the app's dependency_overrides (the tests'
    savepoint)."""
    override = request.app.dependency_overrides.get(get_session)
    return session_scope() if override is None else asynccontextmanager(override)()


# SessionDep's session opened on first call, for a route most of whose requests need none.
OpenSession = Callable[[], Awaitable[AsyncSession]]


class AutocommitPool:
    """asyncpg's own pool, for a request whose whole write is one statement (a new lead).

    Such a statement is atomic by itself, so it runs outside any transaction: one round trip
    where a session pays three (BEGIN, the statement, COMMIT), and none of the session's
    bookkeeping. Its connections are handed back as they are: nothing run on them changes
    their state (no transaction, setting, lock or listener is left behind), so the pool's
    reset query, a round trip per request, is skipped. Every connection is opened as the
    process starts (`warm`; one idle for half an hour is closed): a connection made while leads
    wait costs a new PostgreSQL backend its start, its type introspection and its first
    statements, which was most of the first seconds' p99 at 200 leads/s (bench/README.md). A
    PostgreSQL that is down then leaves connecting to the first use, so the API starts anyway."""

    def __init__(self, url: str, size: int) -> None:
        self.url, self.size = url, size
        self.pool: asyncpg.Pool | None = None
        self.starting: asyncio.Lock | None = None
        self.warming: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def warm(self) -> None:
        """Open the connections in the background, now rather than while a lead waits."""
        self.warming = asyncio.create_task(self.open_or_defer())

    async def open_or_defer(self) -> None:
        try:
            await self.open_every_connection(await self.start())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            logger.warning("database connections not opened at start (%s); opened on use", exc)

    async def open_every_connection(self, pool: asyncpg.Pool) -> None:
        # Each taken once and given back, not a min_size: asyncpg restores such a floor in the
        # background after a database restart, and a request was then handed a connection
        # still busy with it (a 500 in the postgres_restart drill, 1 run in 3).
        held: list[asyncpg.pool.PoolConnectionProxy] = []
        try:
            for _ in range(self.size):
                held.append(await pool.acquire())
        finally:
            for connection in held:
                await pool.release(connection)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        with driver_errors():
            pool = self.pool_of_this_loop() or await self.start()
            async with pool.acquire() as connection:
                yield connection

    def pool_of_this_loop(self) -> asyncpg.Pool | None:
        """The pool, unless it was opened on another event loop: a worker that lost Redis is
        run again on a new loop, where the old loop's connections cannot be used."""
        if self.pool is not None and self.loop is not asyncio.get_running_loop():
            self.pool, self.starting = None, None  # its loop is gone; its sockets go with it
        return self.pool

    async def start(self) -> asyncpg.Pool:
        self.pool_of_this_loop()  # before the lock: another loop's pool goes with its lock
        if self.starting is None:
            self.starting = asyncio.Lock()
        async with self.starting:
            if self.pool is None:
                self.pool = await asyncpg.create_pool(
                    min_size=0,
                    max_size=self.size,
                    reset=keep_state,
                    # closes a connection idle that long (the engine's recycles one that old)
                    max_inactive_connection_lifetime=POOL_RECYCLE_SECONDS,
                    **asyncpg_connect_args(self.url),
                )
                self.loop = asyncio.get_running_loop()
            return self.pool

    async def close(self) -> None:
        if self.warming is not None:
            self.warming.cancel()
            self.warming = None
        if self.pool is not None:
            await self.pool.close()
        self.pool, self.starting = None, None


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session's transaction (begun if it was not)."""
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


@asynccontextmanager
async def autocommit_connection(session: AsyncSession) -> AsyncIterator[asyncpg.Connection]:
    """Where a write that is one statement, atomic by itself, runs: a connection of the
    autocommit pool (one round trip, none of the session's bookkeeping). A session bound to a
    connection (the tests' rolled-back transaction) lends its own instead, so the statement is
    seen and rolled back with the rest of the test; the session is left to commit it."""
    if isinstance(session.bind, AsyncEngine):
        async with get_autocommit_pool().connection() as connection:
            yield connection
    else:
        with driver_errors():
            yield await driver_connection(session)


async def keep_state(connection: asyncpg.Connection) -> None:
    """Nothing to reset: see AutocommitPool."""


def asyncpg_connect_args(url: str) -> dict[str, Any]:
    """What SQLAlchemy's engine connects with, as asyncpg.connect takes it, so the pool reaches
    the database as the sessions do (a unix socket's host, ssl, query options), including
    PgBouncer's `prepared_statement_cache_size=0`."""
    engine_url = make_url(async_url(url))
    _, args = engine_url.get_dialect()().create_connect_args(engine_url)
    if "prepared_statement_cache_size" in args:
        args["statement_cache_size"] = args.pop("prepared_statement_cache_size")
    return dict(args)


@lru_cache
def get_autocommit_pool() -> AutocommitPool:
    return AutocommitPool(get_settings().database_url, size=POOL_SIZE)


@contextmanager
def driver_errors() -> Iterator[None]:
    """asyncpg's own errors answered as app.errors answers SQLAlchemy's wrapping of them: a
    lost or unreachable database is a 503 to retry, a value PostgreSQL cannot store a 422."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        sqlstate = str(exc.sqlstate or "")
        if sqlstate.startswith(("08", "57P")):
            raise database_unavailable() from exc
        if sqlstate.startswith("22"):
            raise AppError(
                f"A value cannot be stored: {exc}", code="invalid", status_code=422
            ) from exc
        raise
    except (asyncpg.InterfaceError, OSError) as exc:  # OSError: refused, reset, timed out
        raise database_unavailable() from exc
