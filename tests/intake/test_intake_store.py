"""A new lead's one autocommitted statement: what production runs, and its failures."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from uuid import UUID

import asyncpg
import pytest
from arq.connections import ArqRedis
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import get_settings
from app.db import AutocommitPool, asyncpg_connect_args, driver_errors, get_autocommit_pool
from app.errors import AppError, ServiceUnavailable
from app.leads.service import Submission, new_lead, store_committed
from app.models import IntakeClaim, Lead, Source, WebhookEndpoint
from app.queue import dial_job_id
from app.sources.service import forget_cached_sources

ADA = {"name": "Ada Lovelace", "phone": "(415) 555-0142"}


async def committed_source(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        session.add(Source(slug="landing", name="Landing page"))


@pytest.fixture
async def dead_pool(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AutocommitPool]:
    """The intake's pool pointed at a port nothing listens on."""
    pool = AutocommitPool("postgresql://postgres@127.0.0.1:1/nothing", size=1)
    monkeypatch.setattr("app.intake.router.get_autocommit_pool", lambda: pool)
    yield pool
    await pool.close()


async def test_a_new_lead_is_committed_before_the_202_without_the_session(
    live_client: AsyncClient, live_sessions: async_sessionmaker[AsyncSession], arq_redis: ArqRedis
) -> None:
    await committed_source(live_sessions)
    response = await live_client.post("/hooks/forms/landing", json=ADA)
    assert response.status_code == 202, response.text
    lead_id = UUID(response.json()["lead_id"])
    async with live_sessions() as session:  # another connection sees it: it was committed
        lead = await session.get(Lead, lead_id)
        assert lead is not None and lead.phone == "+14155550142"
    assert await arq_redis.exists(f"arq:job:{dial_job_id(lead_id)}")


async def test_an_unreachable_database_is_503_with_retry_after(
    live_client: AsyncClient,
    live_sessions: async_sessionmaker[AsyncSession],
    dead_pool: AutocommitPool,
) -> None:
    await committed_source(live_sessions)
    response = await live_client.post("/hooks/forms/landing", json=ADA)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json() == {
        "error": {"code": "unavailable", "message": "The database is unavailable; retry shortly."}
    }
    async with live_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(IntakeClaim)) == 0


async def test_a_connection_the_database_closed_is_503_then_replaced(
    live_client: AsyncClient,
    live_sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await committed_source(live_sessions)
    pool = AutocommitPool(get_settings().database_url, size=1)
    monkeypatch.setattr("app.intake.router.get_autocommit_pool", lambda: pool)
    try:
        with pytest.raises(ServiceUnavailable):
            async with pool.connection() as connection:
                async with live_sessions() as session:  # as a database restart would
                    pid = connection.get_server_pid()
                    await session.execute(select(func.pg_terminate_backend(pid)))
                for _ in range(200):
                    if connection.is_closed():
                        break
                    await asyncio.sleep(0.01)
                await connection.fetchval("SELECT 1")
        response = await live_client.post("/hooks/forms/landing", json=ADA)
        assert response.status_code == 202, response.text
    finally:
        await pool.close()


async def test_a_value_postgresql_cannot_store_is_a_422(database_url: str) -> None:
    pool = get_autocommit_pool()
    with pytest.raises(AppError) as refused:
        async with pool.connection() as connection:
            await connection.fetchval("SELECT 'not a number'::int")
    assert (refused.value.status_code, refused.value.code) == (422, "invalid")
    assert "not a number" in refused.value.message


async def test_other_database_errors_are_not_hidden(database_url: str) -> None:
    with pytest.raises(asyncpg.UndefinedTableError), driver_errors():
        async with get_autocommit_pool().connection() as connection:
            await connection.fetchval("SELECT 1 FROM no_such_table")


async def test_a_closed_connection_is_unavailable(database_url: str) -> None:
    with pytest.raises(ServiceUnavailable):
        async with get_autocommit_pool().connection() as connection:
            await connection.close()
            await connection.fetchval("SELECT 1")


async def test_a_lead_owed_to_a_webhook_endpoint_wakes_a_sender(
    client: AsyncClient, session: AsyncSession, source: Source, arq_redis: ArqRedis
) -> None:
    session.add(WebhookEndpoint(url="https://x.example/h", secret="whsec_x", event_types=[]))
    await session.flush()
    response = await client.post("/hooks/forms/landing", json=ADA)
    assert response.status_code == 202, response.text
    queued = {job.function for job in await arq_redis.queued_jobs()}
    assert queued == {"dial_lead", "deliver_webhooks"}


async def test_without_an_endpoint_no_sender_is_woken(
    client: AsyncClient, source: Source, arq_redis: ArqRedis
) -> None:
    response = await client.post("/hooks/forms/landing", json=ADA)
    assert response.status_code == 202, response.text
    assert {job.function for job in await arq_redis.queued_jobs()} == {"dial_lead"}


async def test_a_webhook_with_its_source_cached_opens_no_session(
    live_client: AsyncClient,
    live_sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The source from the cache, the phone's cap proven by Redis, the lead stored on the
    pool: the session's open, commit and close would be a tenth of the webhook's CPU."""
    from app import db

    await committed_source(live_sessions)
    monkeypatch.setattr(get_settings(), "source_cache_seconds", 60.0)
    forget_cached_sources()
    opened: list[bool] = []
    scope = db.session_scope

    def counted() -> AbstractAsyncContextManager[AsyncSession]:
        opened.append(True)
        return scope()

    monkeypatch.setattr(db, "session_scope", counted)
    try:
        first = await live_client.post("/hooks/forms/landing", json=ADA)
        second = await live_client.post("/hooks/forms/landing", json={**ADA, "phone": "4155550199"})
        assert (first.status_code, second.status_code) == (202, 202)
        assert len(opened) == 1  # the first read the source
        duplicate = await live_client.post("/hooks/forms/landing", json=ADA)
        assert duplicate.json() == {**first.json(), "duplicate": True}
        assert len(opened) == 2  # a duplicate reads the earlier lead through one
    finally:
        forget_cached_sources()


async def test_a_failing_store_with_two_claims_leaves_neither_behind(
    live_client: AsyncClient, live_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The Idempotency-Key's claim is taken in the statement's transaction: an error after it
    (here a NUL PostgreSQL's jsonb refuses) rolls it back with the rest, and is a 422."""
    await committed_source(live_sessions)
    async with live_sessions() as session:
        source = (await session.scalars(select(Source))).one()
    submission = Submission(
        phone_raw="4155550142",
        phone_field="phone",
        fields={"note": "\x00"},
        idempotency_key="form-9",
    )
    lead, claims = new_lead(source, submission, timedelta(minutes=10))
    assert len(claims) == 2
    async with get_autocommit_pool().connection() as connection:
        with pytest.raises(AppError) as refused:
            await store_committed(connection, lead, claims=claims, source_slug="landing")
        assert refused.value.status_code == 422
        assert not connection.is_in_transaction()  # rolled back, not left aborted
        assert await connection.fetchval("SELECT count(*) FROM intake_claims") == 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgres://ada@127.0.0.1:5433/leads",
            {"host": "127.0.0.1", "port": 5433, "user": "ada", "database": "leads"},
        ),
        (
            "postgresql://ada:pw@/leads?host=/run/pg",
            {"host": "/run/pg", "user": "ada", "password": "pw", "database": "leads"},
        ),
        (
            "postgresql+asyncpg://ada@db/leads?ssl=require&prepared_statement_cache_size=0",
            {"host": "db", "user": "ada", "database": "leads", "ssl": "require"}
            | {"statement_cache_size": 0},
        ),
    ],
)
def test_the_pool_connects_as_the_engine_does(url: str, expected: dict[str, object]) -> None:
    """Unix sockets, ssl and PgBouncer's statement cache setting reach asyncpg as SQLAlchemy
    passes them; an option asyncpg does not know would fail every new lead's store."""
    assert asyncpg_connect_args(url) == expected


async def test_warming_opens_every_connection_before_the_first_lead(database_url: str) -> None:
    pool = AutocommitPool(database_url, size=3)
    pool.warm()
    assert pool.warming is not None
    await pool.warming
    try:
        assert pool.pool is not None
        assert pool.pool.get_size() == 3
        assert pool.pool.get_idle_size() == 3
    finally:
        await pool.close()


async def test_a_database_down_at_start_leaves_connecting_to_the_first_use(
    dead_pool: AutocommitPool, caplog: pytest.LogCaptureFixture
) -> None:
    dead_pool.warm()
    assert dead_pool.warming is not None
    await dead_pool.warming  # no exception escapes
    assert dead_pool.pool is None or dead_pool.pool.get_size() == 0
    assert "opened on use" in caplog.text


def test_a_pool_opened_on_an_old_event_loop_is_opened_again_on_the_new_one(
    database_url: str,
) -> None:
    """A worker that lost Redis runs again on a new event loop (app.cli.cmd_worker)."""
    pool = AutocommitPool(database_url, size=1)

    async def select_one() -> int:
        async with pool.connection() as connection:
            return int(await connection.fetchval("SELECT 1"))

    old_loop = asyncio.new_event_loop()
    try:
        assert old_loop.run_until_complete(select_one()) == 1
        stale = pool.pool
        assert stale is not None

        async def on_a_new_loop() -> int:
            try:
                return await select_one()
            finally:
                assert pool.pool is not stale
                await pool.close()

        assert asyncio.run(on_a_new_loop()) == 1
        old_loop.run_until_complete(stale.close())  # on its own loop, so no socket is left open
    finally:
        old_loop.close()
