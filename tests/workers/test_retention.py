"""The retention job empties old leads' form fields, in batches, and nothing else."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import get_settings
from app.leads.privacy import erase_lead
from app.models import Attempt, CallEvent, Lead, Source
from workers.retention import purge_old_payloads

FIELDS = {"phone": "(415) 555-0142", "message": "Call me after five", "budget": "10k"}


async def seed(sessions: async_sessionmaker[AsyncSession], *ages_days: float) -> list[UUID]:
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        source = Source(slug="retention", name="Retention")
        session.add(source)
        await session.flush()
        leads = [
            Lead(
                source_id=source.id,
                phone=f"+1415555{i:04d}",
                phone_raw=f"(415) 555-{i:04d}",
                full_name="Ada Lovelace",
                email="ada@example.com",
                fields=FIELDS,
                received_at=now - timedelta(days=age),
            )
            for i, age in enumerate(ages_days)
        ]
        session.add_all(leads)
    return [lead.id for lead in leads]


def ctx(sessions: async_sessionmaker[AsyncSession], **settings: Any) -> dict[str, Any]:
    return {"sessionmaker": sessions, "settings": get_settings().model_copy(update=settings)}


async def read(sessions: async_sessionmaker[AsyncSession], lead_id: UUID) -> Lead:
    async with sessions() as session:
        lead = await session.scalar(select(Lead).where(Lead.id == lead_id))
    assert lead is not None
    return lead


async def test_fields_older_than_the_retention_period_are_emptied(
    live_client: AsyncClient, live_sessions: async_sessionmaker[AsyncSession]
) -> None:
    old, recent = await seed(live_sessions, 91, 89)
    assert await purge_old_payloads(ctx(live_sessions)) == 1  # RAW_PAYLOAD_RETENTION_DAYS=90
    purged, kept = await read(live_sessions, old), await read(live_sessions, recent)
    assert purged.fields == {} and purged.fields_purged_at is not None
    # The lead itself stays.
    assert (purged.phone, purged.full_name, purged.email) == (
        "+14155550000",
        "Ada Lovelace",
        "ada@example.com",
    )
    assert purged.erased_at is None
    assert kept.fields == FIELDS and kept.fields_purged_at is None
    assert await purge_old_payloads(ctx(live_sessions)) == 0  # safe to run again
    again = await read(live_sessions, old)
    assert again.fields_purged_at == purged.fields_purged_at


async def test_the_retention_period_is_a_setting(
    live_client: AsyncClient, live_sessions: async_sessionmaker[AsyncSession]
) -> None:
    week_old, day_old = await seed(live_sessions, 8, 1)
    assert await purge_old_payloads(ctx(live_sessions, raw_payload_retention_days=0)) == 0
    assert (await read(live_sessions, week_old)).fields == FIELDS  # 0: kept for good
    assert await purge_old_payloads(ctx(live_sessions, raw_payload_retention_days=7)) == 1
    assert (await read(live_sessions, week_old)).fields == {}
    assert (await read(live_sessions, day_old)).fields == FIELDS


async def test_many_leads_are_purged_a_batch_per_transaction(
    live_client: AsyncClient,
    live_sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import app.leads.privacy
    import workers.retention

    for module in (app.leads.privacy, workers.retention):
        monkeypatch.setattr(module, "PURGE_BATCH", 2)
    ids = await seed(live_sessions, *([100] * 5), 10)
    assert await purge_old_payloads(ctx(live_sessions)) == 5
    fields = [(await read(live_sessions, lead_id)).fields for lead_id in ids]
    assert fields == [{}] * 5 + [FIELDS]


def test_the_worker_runs_the_job_every_hour() -> None:
    from workers.settings import WorkerSettings

    [job] = [j for j in WorkerSettings.cron_jobs if j.coroutine is purge_old_payloads]
    assert (job.hour, job.minute, job.second) == (None, 17, 0)


async def test_a_callback_stored_after_the_erasure_is_scrubbed_too(
    live_client: AsyncClient, live_sessions: async_sessionmaker[AsyncSession]
) -> None:
    erased, kept = await seed(live_sessions, 1, 1)
    now = datetime.now(UTC)
    async with live_sessions() as session, session.begin():
        attempts = [
            Attempt(lead_id=i, ring_group=uuid4(), routing="longest_idle", webhook_received_at=now)
            for i in (erased, kept)
        ]
        session.add_all(attempts)
        await erase_lead(session, lead_id=erased)
    async with live_sessions() as session, session.begin():
        for n, attempt in enumerate(attempts):  # the carrier repeats a callback, late
            payload = {"CallSid": f"CA{n}", "CallStatus": "completed", "To": "+14155550000"}
            session.add(
                CallEvent(
                    call_sid=f"CA{n}",
                    call_status="completed",
                    attempt_id=attempt.id,
                    leg="lead",
                    payload=payload,
                )
            )
    await purge_old_payloads(ctx(live_sessions))
    async with live_sessions() as session:
        payloads = dict(
            (await session.execute(select(CallEvent.call_sid, CallEvent.payload))).all()
        )
    assert payloads["CA0"] == {"CallSid": "CA0", "CallStatus": "completed"}
    assert payloads["CA1"]["To"] == "+14155550000"  # not an erased lead's
