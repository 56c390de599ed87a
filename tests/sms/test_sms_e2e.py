"""A conversation through the carrier sandbox: our text goes out and is delivered, the lead's
reply reaches the rep, STOP and START work, each step through real HTTP, TwiML and signatures
(the sandbox delivers its webhooks to the API in this process)."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import get_settings
from app.models import Attempt, DoNotCall, Lead, Message, Rep, Source
from app.sms.service import queue_sms
from tests.sms.conftest import (
    LEAD_PHONE,
    OUR_NUMBER,
    REP_PHONE,
    Carrier,
    start_carrier,
    stop_carrier,
)
from workers.sms import send_sms


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def setup(sessions: async_sessionmaker[AsyncSession]) -> Lead:
    async with sessions() as session, session.begin():
        source = Source(slug="roofing", name="Roofing", company="Acme Roofing", sms_from=OUR_NUMBER)
        rep = Rep(name="Dana", phone=REP_PHONE)
        session.add_all([source, rep])
        await session.flush()
        lead = Lead(
            source_id=source.id,
            phone=LEAD_PHONE,
            phone_raw=LEAD_PHONE,
            full_name="Ada Lovelace",
            status="unreached",
        )
        session.add(lead)
        await session.flush()
        session.add(
            Attempt(
                lead_id=lead.id,
                rep_id=rep.id,
                ring_group=lead.id,
                routing="longest_idle",
                status="completed",
                outcome="no_answer",
                webhook_received_at=datetime.now(UTC),
            )
        )
    return lead


async def text_from_lead(carrier: Carrier, body: str) -> dict[str, Any]:
    response = await carrier.control.post(
        "/_sandbox/sms", json={"from": LEAD_PHONE, "to": OUR_NUMBER, "body": body}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["status_code"] == 200 and answer["errors"] == [], answer
    return answer


async def test_a_conversation_through_the_sandbox(
    live_client: httpx.AsyncClient,
    live_sessions: async_sessionmaker[AsyncSession],
    arq_redis: ArqRedis,
) -> None:
    from app.main import app

    carrier, server, task = await start_carrier(httpx.ASGITransport(app=app))
    try:
        await converse(carrier, live_sessions)
    finally:
        await stop_carrier(carrier, server, task)


async def converse(carrier: Carrier, sessions: async_sessionmaker[AsyncSession]) -> None:
    settings = get_settings()
    lead = await setup(sessions)
    inbound_url = f"{settings.public_base_url}/twilio/sms/inbound"
    await carrier.control.put(f"/_sandbox/numbers/{OUR_NUMBER}", json={"sms_url": inbound_url})
    ctx = {"twilio": carrier.twilio, "sessionmaker": sessions, "settings": settings}

    async def status_of(message_id: Any) -> str | None:
        async with sessions() as session:
            return await session.scalar(select(Message.status).where(Message.id == message_id))

    # Our text goes out; the carrier's signed receipts mark it delivered.
    async with sessions() as session, session.begin():
        ours = await queue_sms(
            session, lead=lead, to=LEAD_PHONE, from_=OUR_NUMBER, body="Hi Ada, a good time?"
        )
    assert await send_sms(ctx, str(ours.id)) == "sent"

    async def delivered() -> bool:
        return await status_of(ours.id) == "delivered"

    await eventually(delivered, "our text to be delivered")

    # The lead answers: no auto-reply, the answer is queued for the rep and sent.
    answer = await text_from_lead(carrier, "Call me at 5")
    assert answer["replies"] == []
    async with sessions() as session:
        forward = await session.scalar(select(Message).where(Message.to_addr == REP_PHONE))
    assert forward is not None
    assert await send_sms(ctx, str(forward.id)) == "sent"
    [to_rep] = await carrier.messages(to=REP_PHONE)
    assert to_rep["body"] == f"Reply from Ada Lovelace ({LEAD_PHONE}): Call me at 5"
    assert to_rep["from"] == OUR_NUMBER

    # STOP: the TwiML reply is texted back, the number is listed and the lead opted out.
    answer = await text_from_lead(carrier, "STOP")
    [reply] = answer["replies"]
    assert (reply["to"], reply["from"]) == (LEAD_PHONE, OUR_NUMBER)
    assert "unsubscribed" in reply["body"] and "Reply START" in reply["body"]
    async with sessions() as session:
        listed = await session.get(DoNotCall, LEAD_PHONE)
        opted_out = await session.scalar(select(Lead.opted_out_at).where(Lead.id == lead.id))
    assert listed is not None and listed.added_by == "sms" and opted_out is not None

    # A text queued before the STOP is not sent after it.
    async with sessions() as session, session.begin():
        late = await queue_sms(session, lead=lead, to=LEAD_PHONE, from_=OUR_NUMBER, body="Still?")
    assert await send_sms(ctx, str(late.id)) == "failed"

    # START lifts it again.
    answer = await text_from_lead(carrier, "Start")
    assert "resubscribed" in answer["replies"][0]["body"]
    async with sessions() as session:
        assert await session.get(DoNotCall, LEAD_PHONE) is None
        back = await session.scalar(select(Lead.opted_out_at).where(Lead.id == lead.id))
    assert back is None
    texts_to_lead = await carrier.messages(to=LEAD_PHONE)
    directions = [m["direction"] for m in texts_to_lead]
    assert directions == ["outbound-api", "outbound-reply", "outbound-reply"]
