"""Outbound SMS: the sender number, the queued row, sending it once through the carrier."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.rest import Client

from app.carrier import CarrierHttpClient, close_twilio_client
from app.config import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, Settings, get_settings
from app.dnc.service import add as add_dnc
from app.models import Lead, Message, Source
from app.sms.service import queue_sms, send_queued_sms, sms_sender
from tests.sms.conftest import LEAD_PHONE, OUR_NUMBER, Carrier, add_lead


def test_the_sender_is_the_sources_sms_number_then_its_caller_id_then_ours() -> None:
    settings = Settings(_env_file=None, caller_id="+14155550100")
    source = Source(slug="s", name="S", sms_from="+14155550199", caller_id="+14155550198")
    assert sms_sender(source, settings) == "+14155550199"
    source.sms_from = None
    assert sms_sender(source, settings) == "+14155550198"
    source.caller_id = None
    assert sms_sender(source, settings) == "+14155550100"


async def queued(session: AsyncSession, lead: Lead, body: str = "Hi Ada") -> Message:
    return await queue_sms(session, lead=lead, to=lead.phone, from_=OUR_NUMBER, body=body)


async def reload(session: AsyncSession, message: Message) -> Message:
    await session.refresh(message)
    return message


async def test_queue_sms_writes_a_queued_row_and_sends_nothing(
    session: AsyncSession, company_source: Source, carrier: Carrier
) -> None:
    lead = await add_lead(session, company_source)
    message = await queued(session, lead)
    assert (message.channel, message.direction, message.status) == ("sms", "out", "queued")
    assert (message.lead_id, message.to_addr, message.from_addr) == (
        lead.id,
        LEAD_PHONE,
        OUR_NUMBER,
    )
    assert message.provider_id is None
    assert await carrier.messages() == []


async def test_send_stores_the_sid_and_sent_and_a_second_run_sends_nothing(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    company_source: Source,
    carrier: Carrier,
) -> None:
    lead = await add_lead(session, company_source)
    message = await queued(session, lead, body="Hi Ada, when is a good time?")
    settings = get_settings()

    status = await send_queued_sms(
        carrier.twilio, sessions, message_id=message.id, settings=settings
    )

    message = await reload(session, message)
    assert status == "sent" and message.status == "sent"
    assert message.provider_id is not None and message.provider_id.startswith("SM")
    [sent] = await carrier.messages()
    assert sent["sid"] == message.provider_id
    assert (sent["to"], sent["from"], sent["body"]) == (
        LEAD_PHONE,
        OUR_NUMBER,
        "Hi Ada, when is a good time?",
    )
    callback = f"{settings.public_base_url}/twilio/sms/status?message={message.id}"
    assert sent["params"]["StatusCallback"] == callback

    again = await send_queued_sms(
        carrier.twilio, sessions, message_id=message.id, settings=settings
    )
    assert again == "sent" and len(await carrier.messages()) == 1


async def test_a_carrier_refusal_fails_the_message_with_the_error(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    company_source: Source,
    carrier: Carrier,
) -> None:
    lead = await add_lead(session, company_source)
    message = await queued(session, lead)
    await carrier.control.put("/_sandbox/faults", json={"messages_create": [400]})

    status = await send_queued_sms(
        carrier.twilio, sessions, message_id=message.id, settings=get_settings()
    )

    message = await reload(session, message)
    assert status == "failed" and message.status == "failed"
    assert message.error is not None and message.error.startswith("20400")
    assert message.provider_id is None


async def test_a_busy_carrier_leaves_the_message_queued_for_a_retry(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    company_source: Source,
    carrier: Carrier,
) -> None:
    lead = await add_lead(session, company_source)
    message = await queued(session, lead)
    await carrier.control.put("/_sandbox/faults", json={"messages_create": [429]})

    first = await send_queued_sms(
        carrier.twilio, sessions, message_id=message.id, settings=get_settings()
    )
    assert first == "queued" and (await reload(session, message)).status == "queued"

    second = await send_queued_sms(
        carrier.twilio, sessions, message_id=message.id, settings=get_settings()
    )
    message = await reload(session, message)
    assert second == "sent" and message.provider_id is not None
    assert len(await carrier.messages()) == 1


async def test_no_answer_from_the_carrier_is_not_sent_again(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    company_source: Source,
    carrier: Carrier,
) -> None:
    lead = await add_lead(session, company_source)
    message = await queued(session, lead)
    await carrier.control.put(
        "/_sandbox/faults", json={"messages_create": ["timeout"], "timeout_s": 1}
    )
    impatient = Client(
        SANDBOX_ACCOUNT_SID,
        SANDBOX_AUTH_TOKEN,
        http_client=CarrierHttpClient(str(carrier.control.base_url), timeout=0.2),
    )
    try:
        status = await send_queued_sms(
            impatient, sessions, message_id=message.id, settings=get_settings()
        )
    finally:
        await close_twilio_client(impatient)

    message = await reload(session, message)
    assert status == "sending" and message.status == "sending"
    assert message.error is not None and "may have been sent" in message.error
    again = await send_queued_sms(
        carrier.twilio, sessions, message_id=message.id, settings=get_settings()
    )
    assert again == "sending" and await carrier.messages() == []


@pytest.mark.parametrize("why", ["do_not_call", "opted_out"])
async def test_a_number_that_opted_out_since_it_was_queued_is_not_texted(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    company_source: Source,
    carrier: Carrier,
    why: str,
) -> None:
    lead = await add_lead(session, company_source)
    message = await queued(session, lead)
    if why == "do_not_call":
        await add_dnc(session, phone=LEAD_PHONE, reason="asked", added_by="api")
    else:
        lead.opted_out_at = lead.created_at
        await session.flush()

    status = await send_queued_sms(
        carrier.twilio, sessions, message_id=message.id, settings=get_settings()
    )

    message = await reload(session, message)
    assert status == "failed" and message.error is not None
    assert await carrier.messages() == []
