"""A real SMTP server on this machine, and sessions that share the test's rolled-back
transaction so the sender's own commits stay inside it."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings, get_settings
from app.models import Lead, Source
from tests.conftest import free_port

SIGNING_SECRET = "test-link-secret"
PUBLIC_URL = "https://leads.example.com"


@dataclass
class Mailbox:
    """What the SMTP server accepted, parsed as a mail client would."""

    received: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted"


@pytest.fixture
async def mailbox() -> AsyncIterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    await asyncio.to_thread(controller.start)
    yield box, controller.port
    await asyncio.to_thread(controller.stop)


def email_settings(smtp_port: int) -> Settings:
    return Settings(
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_security="none",
        smtp_timeout_seconds=5,
        link_signing_secret=SecretStr(SIGNING_SECRET),
        public_base_url=PUBLIC_URL,
    )


@pytest.fixture
def settings(mailbox: tuple[Mailbox, int]) -> Settings:
    return email_settings(mailbox[1])


@pytest.fixture
def app_settings(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The API's settings with a known link secret, so tests can sign links as emails do."""
    current = get_settings()
    monkeypatch.setattr(current, "link_signing_secret", SecretStr(SIGNING_SECRET))
    return current


@pytest.fixture
def sessions(session: AsyncSession) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=session.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
async def company_source(session: AsyncSession) -> Source:
    found = Source(slug="roofing", name="Roofing form", company="Acme Roofing")
    session.add(found)
    await session.flush()
    return found


async def add_lead(
    session: AsyncSession, source: Source, *, email: str | None, phone: str = "+14155550142"
) -> Lead:
    lead = Lead(source_id=source.id, phone=phone, phone_raw=phone, first_name="Ada", email=email)
    session.add(lead)
    await session.flush()
    await session.refresh(lead)  # the server's defaults, as a loaded lead has them
    return lead
