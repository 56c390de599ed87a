"""The statistics on two connections at once, as the API reads them from a real database.

The rolled-back sessions of the other stats tests hold rows no second connection can see, so
those tests read on one connection; here the same history is committed, and the API's own
session (bound to the engine) reads it on two, sharing one snapshot (app.stats.readers).
"""

from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.models import Source
from app.stats import service
from app.stats.readers import READ_ONLY_SNAPSHOT, import_snapshot, on_snapshot, readers
from app.stats.schemas import Bucket
from tests.conftest import create_live_api_key
from tests.stats.test_stats_api import (
    DAY_1,
    DAY_2,
    FROM,
    TO,
    WHOLE_WINDOW,
    WINDOW,
    figures,
    iso,
    seed_history,
    stats,
)


@pytest.fixture
async def committed(live_client: AsyncClient, engine: AsyncEngine) -> dict[str, Any]:
    """The history, committed (live_client empties the database before and after)."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        reps = await seed_history(session)
        await session.commit()
    return reps


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many readers each speed-to-lead request planned for."""
    planned: list[int] = []
    plan = service.reading_plan

    def spy(scope: service.LeadScope, readers: int) -> service.Plan:
        planned.append(readers)
        return plan(scope, readers)

    monkeypatch.setattr(service, "reading_plan", spy)
    return planned


@pytest.fixture
async def api_key(live_sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    return await create_live_api_key(live_sessions)


async def test_speed_to_lead_on_two_readers(
    live_client: AsyncClient, api_key: dict[str, str], committed: dict[str, Any], plans: list[int]
) -> None:
    whole = await stats(live_client, api_key)
    assert figures(whole) == WHOLE_WINDOW
    by_day = await stats(live_client, api_key, bucket="day")
    assert figures(by_day) == WHOLE_WINDOW
    assert by_day["buckets"] == [
        {**DAY_1, "start": iso(FROM)},
        {**DAY_2, "start": iso(FROM + timedelta(days=1))},
    ]
    assert plans == [2, 2]


async def test_two_readers_answer_as_one(
    live_client: AsyncClient, engine: AsyncEngine, committed: dict[str, Any], plans: list[int]
) -> None:
    """Every case, by the hour too, compared whole with the one-connection reading."""
    window = service.Window(FROM, TO)
    scopes = [
        service.LeadScope(window, bucket=Bucket.hour),
        service.LeadScope(window, team="stats-red", bucket=Bucket.day),
        service.LeadScope(window, rep_id=committed["bob"].id, bucket=Bucket.hour),
    ]
    for scope in scopes:
        async with AsyncSession(engine) as two:
            by_two = await service.speed_to_lead(two, scope=scope)
        async with engine.connect() as connection, AsyncSession(bind=connection) as one:
            by_one = await service.speed_to_lead(one, scope=scope)
        assert by_two == by_one
        assert by_two.leads > 0
    assert plans == [2, 1] * len(scopes)


async def test_rep_stats_on_two_readers(
    live_client: AsyncClient, api_key: dict[str, str], engine: AsyncEngine, committed: Any
) -> None:
    """The reps are split in two halves, one per reader; the answer keeps the one order."""
    response = await live_client.get("/v1/stats/reps", params=WINDOW, headers=api_key)
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    assert [row["name"] for row in rows] == ["Ann", "Bob", "Cid"]
    assert [row["offered"] for row in rows] == [6, 2, 0]
    scope = service.RepScope(service.Window(FROM, TO))
    async with engine.connect() as connection, AsyncSession(bind=connection) as one:
        by_one = await service.rep_stats(one, scope=scope)
    assert rows == by_one.model_dump(mode="json")["data"]


SOURCES = select(func.count()).select_from(Source)


async def add_source(engine: AsyncEngine, slug: str) -> None:
    async with AsyncSession(engine) as writer, writer.begin():
        writer.add(Source(slug=slug, name=slug))


async def test_both_readers_see_one_snapshot(
    live_client: AsyncClient, engine: AsyncEngine, committed: Any
) -> None:
    """A row committed while the readers read is seen by neither."""
    async with AsyncSession(engine) as session, readers(session, {}) as read:
        assert read.second is not None
        await add_source(engine, "stats-late")
        seen = [(await c.execute(SOURCES)).scalar_one() for c in (read.first, read.second)]
    assert seen == [2, 2]  # stats-web and stats-ads
    async with AsyncSession(engine) as session:
        assert (await session.execute(SOURCES)).scalar_one() == 3


async def test_the_second_reader_sees_the_firsts_snapshot_not_its_own(
    live_client: AsyncClient, engine: AsyncEngine, committed: Any
) -> None:
    """A row committed after the first reader's snapshot and before the second begins."""
    async with engine.connect() as first:
        await first.execution_options(**READ_ONLY_SNAPSHOT)
        async with first.begin():
            snapshot = (await first.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
            await add_source(engine, "stats-between")
            async with on_snapshot(engine, snapshot) as second:
                assert (await second.execute(SOURCES)).scalar_one() == 2
            async with engine.connect() as fresh:
                assert (await fresh.execute(SOURCES)).scalar_one() == 3


async def test_a_session_on_a_connection_reads_alone(session: AsyncSession) -> None:
    """Its own uncommitted rows would be invisible to a second connection."""
    session.add(Source(slug="stats-uncommitted", name="Uncommitted"))
    await session.flush()
    async with readers(session, {"work_mem": "8MB"}) as read:
        assert read.second is None
        slugs = (await read.first.execute(select(Source.slug))).scalars().all()
        work_mem = (await read.first.exec_driver_sql("SHOW work_mem")).scalar_one()
    assert "stats-uncommitted" in slugs
    assert work_mem == "8MB"


async def test_a_malformed_snapshot_id_is_refused(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        with pytest.raises(ValueError, match="not a snapshot id"):
            await import_snapshot(connection, "x'; DROP TABLE leads; --")
