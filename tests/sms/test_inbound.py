"""Texts people send us: POST /twilio/sms/inbound, signed. Opt-out and opt-in keywords, help,
and replies forwarded to the lead's last rep."""

from datetime import UTC, datetime, timedelta

import pytest
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from httpx import AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.dnc.service import add as add_dnc
from app.models import DoNotCall, Event, Lead, Message, Rep, Source
from tests.sms.conftest import (
    LEAD_PHONE,
    OUR_NUMBER,
    REP_PHONE,
    add_attempt,
    add_lead,
    incoming,
    post_signed,
    signed,
)

INBOUND = "/twilio/sms/inbound"
STRANGER = "+14155550177"


async def text_us(client: AsyncClient, body: str, sender: str = LEAD_PHONE) -> Response:
    response = await post_signed(client, INBOUND, incoming(body, sender))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return response


async def two_leads(session: AsyncSession, source: Source) -> tuple[Lead, Lead]:
    """The same person twice (older, newer), as a repeat form submission makes them."""
    received = datetime.now(UTC)
    older = await add_lead(session, source, received_at=received - timedelta(days=3))
    newer = await add_lead(session, source, received_at=received)
    return older, newer


async def messages(session: AsyncSession, **where: object) -> list[Message]:
    query = select(Message).order_by(Message.created_at)
    for name, value in where.items():
        query = query.where(getattr(Message, name) == value)
    return list(await session.scalars(query))


async def refreshed(session: AsyncSession, *rows: object) -> None:
    for row in rows:
        await session.refresh(row)


@pytest.mark.parametrize(
    "body",
    [
        "STOP",
        "stop",
        "  Stop \n",
        "STOPALL",
        "Unsubscribe",
        "cancel",
        "END",
        "quit",
        "REVOKE",
        "optout",
        "Stop.",
    ],
)
async def test_an_opt_out_keyword_opts_out_every_lead_with_the_number(
    client: AsyncClient, session: AsyncSession, company_source: Source, body: str
) -> None:
    older, newer = await two_leads(session, company_source)
    someone_else = await add_lead(session, company_source, phone=STRANGER)

    response = await text_us(client, body)

    assert "unsubscribed" in response.text and "Reply START to resubscribe" in response.text
    assert "Acme Roofing" in response.text
    await refreshed(session, older, newer, someone_else)
    assert older.opted_out_at is not None and newer.opted_out_at is not None
    assert older.status == newer.status == "opted_out"
    assert someone_else.opted_out_at is None
    entry = await session.get(DoNotCall, LEAD_PHONE)
    assert entry is not None and (entry.added_by, entry.reason) == ("sms", "replied STOP")
    [stored] = await messages(session, direction="in")
    assert (stored.lead_id, stored.body, stored.status) == (newer.id, body, "received")
    assert (stored.from_addr, stored.to_addr, stored.channel) == (LEAD_PHONE, OUR_NUMBER, "sms")
    opted_out_events = await session.scalar(
        select(func.count()).select_from(Event).where(Event.type == "lead.opted_out")
    )
    assert opted_out_events == 2


async def test_stop_inside_a_sentence_is_a_reply_not_an_opt_out(
    client: AsyncClient, session: AsyncSession, company_source: Source, rep: Rep
) -> None:
    lead = await add_lead(session, company_source)
    await add_attempt(session, lead, rep)
    response = await text_us(client, "Please stop by on Friday")
    assert "<Message>" not in response.text
    await session.refresh(lead)
    assert lead.opted_out_at is None and await session.get(DoNotCall, LEAD_PHONE) is None
    assert len(await messages(session, direction="out", to_addr=REP_PHONE)) == 1


async def test_start_after_stop_lifts_the_opt_out(
    client: AsyncClient, session: AsyncSession, company_source: Source
) -> None:
    older, newer = await two_leads(session, company_source)
    await text_us(client, "STOP")

    response = await text_us(client, " start ")

    assert "resubscribed" in response.text
    assert await session.get(DoNotCall, LEAD_PHONE) is None
    await refreshed(session, older, newer)
    assert older.opted_out_at is None and newer.opted_out_at is None
    assert older.status != "opted_out" and newer.status != "opted_out"


async def test_start_never_lifts_a_listing_an_integrator_made(
    client: AsyncClient, session: AsyncSession, company_source: Source
) -> None:
    lead = await add_lead(session, company_source)
    await add_dnc(session, phone=LEAD_PHONE, reason="asked on the phone", added_by="api")
    await text_us(client, "STOP")  # already listed: the integrator's row stays as it was
    entry = await session.get(DoNotCall, LEAD_PHONE)
    assert entry is not None and entry.added_by == "api"

    for keyword in ("START", "UNSTOP", "YES"):
        response = await text_us(client, keyword)
        assert "do-not-contact list" in response.text and "Acme Roofing" in response.text

    await session.refresh(entry)
    await session.refresh(lead)
    assert entry.added_by == "api" and entry.reason == "asked on the phone"
    assert lead.opted_out_at is not None


async def test_yes_is_a_reply_for_the_rep_unless_the_number_opted_out(
    client: AsyncClient, session: AsyncSession, company_source: Source, rep: Rep
) -> None:
    lead = await add_lead(session, company_source)
    await add_attempt(session, lead, rep)

    response = await text_us(client, "Yes")
    assert "<Message>" not in response.text
    [forward] = await messages(session, direction="out", to_addr=REP_PHONE)
    assert forward.body.endswith(": Yes")

    await text_us(client, "STOP")
    await session.refresh(lead)
    assert lead.opted_out_at is not None
    response = await text_us(client, "YES")
    assert "resubscribed" in response.text
    await session.refresh(lead)
    assert lead.opted_out_at is None
    assert len(await messages(session, direction="out", to_addr=REP_PHONE)) == 1


@pytest.mark.parametrize("body", ["HELP", "info", " Help "])
async def test_help_names_the_company_and_how_to_opt_out(
    client: AsyncClient, session: AsyncSession, company_source: Source, rep: Rep, body: str
) -> None:
    lead = await add_lead(session, company_source)
    await add_attempt(session, lead, rep)
    response = await text_us(client, body)
    assert "Acme Roofing" in response.text and "Reply STOP to opt out" in response.text
    assert await messages(session, direction="out") == []
    assert len(await messages(session, direction="in", lead_id=lead.id)) == 1


async def test_a_reply_is_kept_and_forwarded_to_the_leads_last_rep(
    client: AsyncClient,
    session: AsyncSession,
    arq_redis: ArqRedis,
    company_source: Source,
    rep: Rep,
) -> None:
    older, newer = await two_leads(session, company_source)
    earlier_rep = Rep(name="Riley", phone="+14155550112")
    session.add(earlier_rep)
    await session.flush()
    await add_attempt(session, newer, earlier_rep)
    await add_attempt(session, newer, rep)  # the latest attempt

    response = await text_us(client, "  Can you call me at 5?  ")

    assert "<Message>" not in response.text
    [stored] = await messages(session, direction="in")
    assert stored.lead_id == newer.id and stored.body == "  Can you call me at 5?  "
    [forward] = await messages(session, direction="out")
    assert (forward.to_addr, forward.from_addr, forward.rep_id) == (REP_PHONE, OUR_NUMBER, rep.id)
    assert forward.lead_id == newer.id and forward.status == "queued"
    assert forward.body == f"Reply from Ada Lovelace ({LEAD_PHONE}): Can you call me at 5?"
    assert await arq_redis.exists(job_key_prefix + f"sms:{forward.id}")


async def test_a_reply_from_a_lead_no_rep_has_called_is_kept_only(
    client: AsyncClient, session: AsyncSession, company_source: Source
) -> None:
    lead = await add_lead(session, company_source)
    await text_us(client, "Hello?")
    assert [m.lead_id for m in await messages(session, direction="in")] == [lead.id]
    assert await messages(session, direction="out") == []


async def test_texts_from_a_number_on_no_lead(
    client: AsyncClient, session: AsyncSession, company_source: Source
) -> None:
    response = await text_us(client, "Who is this?", sender=STRANGER)
    assert "<Message>" not in response.text
    [stored] = await messages(session, direction="in")
    assert stored.lead_id is None and stored.from_addr == STRANGER

    help_reply = await text_us(client, "HELP", sender=STRANGER)
    assert "Acme Roofing" in help_reply.text  # the source that texts from this number

    stop = await text_us(client, "STOP", sender=STRANGER)
    assert "unsubscribed" in stop.text
    entry = await session.get(DoNotCall, STRANGER)
    assert entry is not None and entry.added_by == "sms"
    assert await messages(session, direction="out") == []


async def test_a_text_posted_twice_is_kept_and_forwarded_once(
    client: AsyncClient, session: AsyncSession, company_source: Source, rep: Rep
) -> None:
    lead = await add_lead(session, company_source)
    await add_attempt(session, lead, rep)
    params = incoming("See you then")
    for _ in range(2):
        assert (await post_signed(client, INBOUND, params)).status_code == 200
    assert len(await messages(session, direction="in")) == 1
    assert len(await messages(session, direction="out")) == 1


async def test_a_forged_text_is_403_and_changes_nothing(
    client: AsyncClient, session: AsyncSession, company_source: Source
) -> None:
    lead = await add_lead(session, company_source)
    params = incoming("STOP")
    for headers in (
        {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        {},
        signed(INBOUND, {**params, "Body": "HELLO"}),
    ):
        response = await client.post(INBOUND, data=params, headers=headers)
        assert response.status_code == 403
    await session.refresh(lead)
    assert lead.opted_out_at is None
    assert await session.get(DoNotCall, LEAD_PHONE) is None
    assert await messages(session) == []


async def test_keywords_a_messaging_service_answered_itself_get_no_second_answer(
    client: AsyncClient, session: AsyncSession, company_source: Source
) -> None:
    lead = await add_lead(session, company_source)
    params = incoming("PARAR", OptOutType="STOP")  # an opt-out keyword the account added
    response = await post_signed(client, INBOUND, params)
    assert response.status_code == 200 and "<Message>" not in response.text
    await session.refresh(lead)
    assert lead.opted_out_at is not None
    assert await session.get(DoNotCall, LEAD_PHONE) is not None

    help_reply = await post_signed(client, INBOUND, incoming("HELP", OptOutType="HELP"))
    assert "<Message>" not in help_reply.text
