"""Queued emails go out once through a real SMTP server, with a one-click unsubscribe."""

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.email.links import unsubscribe_url
from app.email.service import email_configured, email_sender, queue_email, send_queued_email
from app.models import Message, Source
from tests.conftest import free_port
from tests.email.conftest import Mailbox, add_lead, email_settings

SENDER = "Acme Roofing <hello@acme-roofing.example>"


async def queued(session: AsyncSession, source: Source, email: str = "ada@example.com") -> Message:
    lead = await add_lead(session, source, email=email)
    message = await queue_email(
        session, lead=lead, from_=SENDER, subject="Your roof quote", body="Hi Ada,\nstill keen?"
    )
    assert message is not None
    return message


async def test_a_queued_email_is_sent_with_a_one_click_unsubscribe(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    company_source: Source,
    mailbox: tuple[Mailbox, int],
    settings: Settings,
) -> None:
    message = await queued(session, company_source)
    assert (message.status, message.channel, message.direction) == ("queued", "email", "out")

    assert await send_queued_email(sessions, message_id=message.id, settings=settings) == "sent"

    box, _ = mailbox
    [email] = box.received
    assert box.recipients == [["ada@example.com"]]
    assert email["From"] == SENDER
    assert email["To"] == "ada@example.com"
    assert email["Subject"] == "Your roof quote"
    assert message.lead_id is not None
    link = unsubscribe_url(message.lead_id, settings)
    assert link.startswith("https://leads.example.com/unsubscribe/")
    assert email["List-Unsubscribe"] == f"<{link}>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = email.get_content().replace("\r\n", "\n")  # as it came off the wire
    assert text.startswith("Hi Ada,\nstill keen?\n")
    assert "Acme Roofing" in text and link in text
    await session.refresh(message)
    assert message.status == "sent" and message.error is None
    assert message.provider_id == email["Message-ID"] == f"<{message.id}@acme-roofing.example>"


async def test_a_second_send_sends_nothing(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    company_source: Source,
    mailbox: tuple[Mailbox, int],
    settings: Settings,
) -> None:
    message = await queued(session, company_source)
    assert await send_queued_email(sessions, message_id=message.id, settings=settings) == "sent"
    assert await send_queued_email(sessions, message_id=message.id, settings=settings) == "sent"
    assert len(mailbox[0].received) == 1


async def test_smtp_down_marks_the_email_failed(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    company_source: Source,
) -> None:
    message = await queued(session, company_source)
    nobody_listening = email_settings(free_port())

    status = await send_queued_email(sessions, message_id=message.id, settings=nobody_listening)

    assert status == "failed"
    await session.refresh(message)
    assert message.status == "failed" and message.provider_id is None
    assert message.error


async def test_a_lead_who_opted_out_after_queueing_gets_nothing(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    company_source: Source,
    mailbox: tuple[Mailbox, int],
    settings: Settings,
) -> None:
    lead = await add_lead(session, company_source, email="ada@example.com")
    message = await queue_email(session, lead=lead, from_=SENDER, subject="Hi", body="Hi")
    assert message is not None
    lead.opted_out_at = datetime.now(UTC)
    await session.flush()

    status = await send_queued_email(sessions, message_id=message.id, settings=settings)

    assert status == "failed" and mailbox[0].received == []
    await session.refresh(message)
    assert message.error == "The lead opted out before the email was sent."
    assert await queue_email(session, lead=lead, from_=SENDER, subject="Hi", body="Hi") is None


async def test_a_lead_without_email_gets_no_email(
    session: AsyncSession, company_source: Source
) -> None:
    lead = await add_lead(session, company_source, email=None)
    message = await queue_email(session, lead=lead, from_=SENDER, subject="Hi", body="Hi")
    assert message is None
    assert await session.scalar(select(Message).where(Message.lead_id == lead.id)) is None


async def test_without_smtp_host_email_is_not_configured(company_source: Source) -> None:
    settings = Settings(smtp_host="", email_from="FirstRing <leads@firstring.example>")
    assert not email_configured(settings)
    assert email_sender(company_source, settings) == "FirstRing <leads@firstring.example>"
    company_source.email_from = SENDER
    assert email_sender(company_source, settings) == SENDER


async def test_an_address_that_would_inject_headers_is_failed_not_sent(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    company_source: Source,
    mailbox: tuple[Mailbox, int],
    settings: Settings,
) -> None:
    message = await queued(session, company_source, email="ada@example.com\r\nBcc: x@evil.test")

    status = await send_queued_email(sessions, message_id=message.id, settings=settings)

    assert status == "failed" and mailbox[0].received == []
    await session.refresh(message)
    assert (message.error or "").startswith("The email cannot be built")
