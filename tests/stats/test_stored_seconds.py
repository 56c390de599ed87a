"""The stats sort seconds stored on the rows (migration 0011); every figure stays what the
timestamps give, to the microsecond and to the last bit of the percentiles."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.schemas import Outcome
from app.models import Attempt, Lead, Rep, Source
from app.stats import service
from app.stats.schemas import Bucket

RECEIVED = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
US = timedelta(microseconds=1)
# First calls right at and a microsecond past each "within" limit, a long one past a day (its
# seconds add the days' apart), and odd microseconds that interpolated percentiles mix.
FIRST_CALLS = [
    timedelta(seconds=5),
    timedelta(seconds=5) + US,
    timedelta(seconds=60),
    timedelta(seconds=300) + US,
    timedelta(days=1, hours=2, microseconds=123_457),
    timedelta(seconds=1, microseconds=333_333),
    timedelta(seconds=2, microseconds=666_667),
]


async def seed(session: AsyncSession) -> tuple[Source, Rep]:
    source = Source(slug="seconds-web", name="Web", team="seconds-team")
    rep = Rep(name="Sec", phone="+14155558001", team="seconds-team")
    session.add_all([source, rep])
    await session.flush()
    for n, first in enumerate(FIRST_CALLS):
        received = RECEIVED + timedelta(minutes=n * 17)
        phone = f"+141555580{n + 10:02d}"
        lead = Lead(source_id=source.id, phone=phone, phone_raw=phone, received_at=received)
        lead.first_call_at = received + first
        lead.first_rep_answered_at = received + first * 3 + US * n
        lead.connected_at = received + first * 7 if n % 2 else None
        lead.touches = n
        session.add(lead)
        await session.flush()
        session.add(
            Attempt(
                lead_id=lead.id,
                rep_id=rep.id,
                ring_group=uuid.uuid4(),
                routing="longest_idle",
                outcome=Outcome.lead_no_answer,
                webhook_received_at=received,
                created_at=received + first,
                create_sent_at=received + first,
                rep_ringing_at=received + first + US * 7 * n if n % 3 else None,
                rep_answered_at=received + first * 2 + US * 11 * n,
                ended_at=received + first * 2 + timedelta(minutes=1),
            )
        )
    await session.flush()
    return source, rep


async def from_timestamps(session: AsyncSession, query: str) -> Any:
    return (await session.execute(text(query))).scalar()


async def test_speed_to_lead_figures_are_those_of_the_timestamps(session: AsyncSession) -> None:
    await seed(session)
    window = service.Window(RECEIVED - timedelta(hours=1), RECEIVED + timedelta(days=1))
    for bucket in (None, Bucket.hour, Bucket.day):
        scope = service.LeadScope(window, source="seconds-web", bucket=bucket)
        figures = await service.speed_to_lead(session, scope=scope)
        # At the limit is within, a microsecond more is not.
        assert figures.called_within.s5 == 3 / 7
        assert figures.called_within.s60 == 5 / 7
        assert figures.called_within.s300 == 5 / 7
        for name, column in (
            ("to_first_call", "first_call_at"),
            ("to_rep_answered", "first_rep_answered_at"),
            ("to_lead_connected", "connected_at"),
        ):
            expected = await from_timestamps(
                session,
                "SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY "
                f"date_part('epoch', {column} - received_at)) FROM leads l JOIN sources s "
                "ON s.id = l.source_id WHERE s.slug = 'seconds-web'",
            )
            found = getattr(figures, name)
            assert [found.p50, found.p90, found.p99] == [round(v, 3) for v in expected]


async def test_rep_median_is_that_of_the_timestamps(session: AsyncSession) -> None:
    _, rep = await seed(session)
    window = service.Window(RECEIVED - timedelta(hours=1), RECEIVED + timedelta(days=3))
    stats = await service.rep_stats(session, scope=service.RepScope(window, rep_id=rep.id))
    expected = await from_timestamps(
        session,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY date_part('epoch', "
        "rep_answered_at - coalesce(rep_ringing_at, create_sent_at))) FROM attempts "
        f"WHERE rep_id = '{rep.id}'",
    )
    assert stats.data[0].answer_seconds_p50 == round(expected, 3)


async def test_stored_seconds_follow_the_summary(session: AsyncSession) -> None:
    await seed(session)
    lead = (
        await session.execute(
            text("SELECT id, received_at FROM leads WHERE touches = 0 AND phone = '+14155558010'")
        )
    ).one()
    await session.execute(
        text("UPDATE leads SET first_call_at = :at, connected_at = :at WHERE id = :id"),
        {"at": lead.received_at + timedelta(seconds=9, microseconds=5), "id": lead.id},
    )
    stored = (
        await session.execute(
            text("SELECT first_call_seconds, connected_seconds FROM leads WHERE id = :id"),
            {"id": lead.id},
        )
    ).one()
    assert tuple(stored) == (9.000005, 9.000005)
