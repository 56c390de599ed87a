"""Delivery receipts: POST /twilio/sms/status?message=<id>, signed, never going backwards."""

from uuid import uuid4

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Message, Source
from app.sms.service import queue_sms
from tests.sms.conftest import OUR_NUMBER, add_lead, post_signed, signed

SID = "SM" + "a" * 32


async def sent_message(session: AsyncSession, source: Source) -> Message:
    lead = await add_lead(session, source)
    message = await queue_sms(session, lead=lead, to=lead.phone, from_=OUR_NUMBER, body="Hi")
    message.status, message.provider_id = "sent", SID
    await session.flush()
    return message


def receipt(status: str, **extra: str) -> dict[str, str]:
    return {"MessageSid": SID, "SmsSid": SID, "MessageStatus": status, "SmsStatus": status, **extra}


async def post_receipt(client: AsyncClient, message: Message, params: dict[str, str]) -> int:
    response = await post_signed(client, f"/twilio/sms/status?message={message.id}", params)
    return response.status_code


async def test_delivered_then_a_late_sent_stays_delivered(
    client: AsyncClient, session: AsyncSession, company_source: Source
) -> None:
    message = await sent_message(session, company_source)
    assert await post_receipt(client, message, receipt("delivered")) == 204
    await session.refresh(message)
    assert message.status == "delivered"

    for late in ("sent", "queued", "undelivered", "failed"):
        assert await post_receipt(client, message, receipt(late, ErrorCode="30003")) == 204
    await session.refresh(message)
    assert message.status == "delivered" and message.error is None


async def test_undelivered_keeps_the_error_code(
    client: AsyncClient, session: AsyncSession, company_source: Source
) -> None:
    message = await sent_message(session, company_source)
    assert await post_receipt(client, message, receipt("undelivered", ErrorCode="30003")) == 204
    await session.refresh(message)
    assert (message.status, message.error) == ("undelivered", "30003")


async def test_a_receipt_quicker_than_the_creates_answer_stores_the_sid(
    client: AsyncClient, session: AsyncSession, company_source: Source
) -> None:
    message = await sent_message(session, company_source)
    message.status, message.provider_id = "sending", None
    await session.flush()
    assert await post_receipt(client, message, receipt("sent")) == 204
    await session.refresh(message)
    assert (message.status, message.provider_id) == ("sent", SID)


async def test_unknown_messages_and_other_sids_change_nothing(
    client: AsyncClient, session: AsyncSession, company_source: Source
) -> None:
    message = await sent_message(session, company_source)
    path = f"/twilio/sms/status?message={uuid4()}"
    assert (await post_signed(client, path, receipt("delivered"))).status_code == 204
    other = {**receipt("delivered"), "MessageSid": "SM" + "b" * 32}
    assert await post_receipt(client, message, other) == 204
    await session.refresh(message)
    assert message.status == "sent"


async def test_a_forged_receipt_is_403_and_changes_nothing(
    client: AsyncClient, session: AsyncSession, company_source: Source
) -> None:
    message = await sent_message(session, company_source)
    path = f"/twilio/sms/status?message={message.id}"
    params = receipt("failed", ErrorCode="30008")
    for headers in (
        {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        {},
        signed(path, receipt("delivered")),  # signed for other parameters
        signed(f"/twilio/sms/status?message={uuid4()}", params),  # signed for another URL
    ):
        response = await client.post(path, data=params, headers=headers)
        assert response.status_code == 403
        assert response.json()["error"]["field"] == "X-Twilio-Signature"
    await session.refresh(message)
    assert message.status == "sent" and message.error is None
