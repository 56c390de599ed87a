"""The dial job in the test's transaction, against a carrier sandbox of its own: the common
round on one connection outside a session, every other case through start_round's session.
(Simultaneous ring places its calls at once, on connections of their own: see the end-to-end
tests in tests/calls.)"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import get_settings
from app.models import Attempt, Lead, Rep, Source, Team
from tests.sms.conftest import Carrier, start_carrier, stop_carrier
from workers.dial import dial_lead


@pytest.fixture
async def carrier() -> AsyncIterator[Carrier]:
    carrier, server, task = await start_carrier()
    yield carrier
    await stop_carrier(carrier, server, task)


@pytest.fixture
def ctx(session: AsyncSession, carrier: Carrier, arq_redis: ArqRedis) -> dict[str, Any]:
    sessions = async_sessionmaker(
        bind=session.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    return {
        "twilio": carrier.twilio,
        "sessionmaker": sessions,
        "settings": get_settings(),
        "redis": arq_redis,
    }


async def due_lead(session: AsyncSession, *, reps: int, routing: str) -> Lead:
    session.add(Team(slug="dial-team", routing=routing, ring_group_size=reps))
    source = Source(slug="dial-web", name="Web", team="dial-team")
    now = datetime.now(UTC)
    session.add_all(
        [
            source,
            *(
                Rep(
                    name=f"Rep {n}",
                    phone=f"+1415555840{n}",
                    team="dial-team",
                    idle_since=now - timedelta(minutes=n),
                )
                for n in range(reps)
            ),
        ]
    )
    await session.flush()
    lead = Lead(source_id=source.id, phone="+14155558499", phone_raw="4155558499", dial_due_at=now)
    session.add(lead)
    await session.commit()
    return lead


async def calls_placed(carrier: Carrier) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = (await carrier.control.get("/_sandbox/calls")).json()["calls"]
    return [call for call in calls if call["to"].startswith("+1415555840")]


async def test_the_common_round_places_one_call_and_a_second_run_none(
    session: AsyncSession, ctx: dict[str, Any], carrier: Carrier
) -> None:
    lead = await due_lead(session, reps=2, routing="longest_idle")
    assert await dial_lead(ctx, str(lead.id)) == "started"
    [placed] = await calls_placed(carrier)
    assert placed["to"] == "+14155558401"  # idle longest
    attempt = await session.scalar(select(Attempt).where(Attempt.lead_id == lead.id))
    assert attempt is not None and attempt.rep_call_sid == placed["sid"]
    assert attempt.sid_returned_at is not None and attempt.status != "placing"
    await session.refresh(lead)
    assert (lead.status, lead.dial_round, lead.first_call_at) == (
        "dialing",
        1,
        attempt.create_sent_at,
    )
    assert await dial_lead(ctx, str(lead.id)) == "not_due"  # a job that runs twice
    assert len(await calls_placed(carrier)) == 1


async def test_a_lead_with_no_rep_free_waits_through_the_session(
    session: AsyncSession, ctx: dict[str, Any], carrier: Carrier
) -> None:
    lead = await due_lead(session, reps=1, routing="longest_idle")
    for rep in await session.scalars(select(Rep).where(Rep.team == "dial-team")):
        rep.call_state = "on_call"
    await session.commit()
    assert await dial_lead(ctx, str(lead.id)) == "waiting"
    await session.refresh(lead)
    assert lead.status == "waiting" and lead.dial_due_at is not None
    assert await calls_placed(carrier) == []
