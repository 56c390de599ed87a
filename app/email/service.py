"""Email for follow-up cadences: queued as a row with the step that owes it, sent after the
commit, at most once; and the one-click unsubscribe its footer and headers point to."""

import asyncio
from dataclasses import dataclass
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from uuid import UUID

import aiosmtplib
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cadences.templates import company_name
from app.config import Settings
from app.email.links import unsubscribe_url
from app.messaging import claim_for_sending
from app.models import Lead, Message, Source

# Used for the Message-ID when the sender's address has no domain to borrow.
FALLBACK_DOMAIN = "firstring.invalid"


def email_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def email_sender(source: Source, settings: Settings) -> str:
    return source.email_from or settings.email_from


async def queue_email(
    session: AsyncSession,
    *,
    lead: Lead,
    from_: str,
    subject: str,
    body: str,
    lead_step_id: UUID | None = None,
) -> Message | None:
    """The email as a queued row, or None when the lead has no address or has opted out (an
    opt-out must win even if a step was already due)."""
    if not lead.email or lead.opted_out_at is not None:
        return None
    message = Message(
        lead_id=lead.id,
        lead_step_id=lead_step_id,
        channel="email",
        direction="out",
        to_addr=lead.email,
        from_addr=from_,
        subject=subject,
        body=body,
        status="queued",
    )
    session.add(message)
    await session.flush()
    return message


@dataclass(frozen=True)
class Outgoing:
    """What a claimed row needs to become an email, copied out of the claiming transaction
    (so it does not depend on the session maker's expire_on_commit)."""

    message_id: UUID
    lead_id: UUID | None
    from_addr: str
    to_addr: str
    subject: str
    body: str
    company: str
    refusal: str | None  # why it must not be sent after all


async def send_queued_email(
    sessions: async_sessionmaker[AsyncSession], *, message_id: UUID, settings: Settings
) -> str:
    """Send a queued email once and return its status ("missing" for no such row). Claiming
    the row first makes a second run (arq may repeat a job) send nothing; a run that dies
    mid-send leaves it "sending", because sending twice is worse than not knowing."""
    outgoing = await claim(sessions, message_id=message_id)
    if outgoing is None:
        async with sessions() as session:
            current = await session.scalar(select(Message.status).where(Message.id == message_id))
        return current or "missing"
    provider_id = message_id_header(outgoing)
    error = await deliver(outgoing, provider_id=provider_id, settings=settings)
    status = "failed" if error else "sent"
    async with sessions() as session, session.begin():
        await session.execute(
            update(Message)
            .where(Message.id == message_id, Message.status == "sending")
            .values(
                status=status,
                provider_id=None if error else provider_id,
                error=error,
                updated_at=func.now(),
            )
        )
    return status


async def claim(sessions: async_sessionmaker[AsyncSession], *, message_id: UUID) -> Outgoing | None:
    async with sessions() as session, session.begin():
        message = await claim_for_sending(session, message_id=message_id, channel="email")
        if message is None:
            return None
        found = await session.execute(
            select(Lead, Source)
            .join(Source, Source.id == Lead.source_id)
            .where(Lead.id == message.lead_id)
        )
        row = found.one_or_none()
        return Outgoing(
            message_id=message.id,
            lead_id=message.lead_id,
            from_addr=message.from_addr,
            to_addr=message.to_addr,
            subject=message.subject or "",
            body=message.body,
            company="" if row is None else company_name(row[1]),
            refusal="The email has no lead." if row is None else refusal(row[0]),
        )


def refusal(lead: Lead) -> str | None:
    """Checked again at send time: the lead may have unsubscribed since the email was queued,
    and without a lead the footer would have no unsubscribe link."""
    if lead.opted_out_at is not None:
        return "The lead opted out before the email was sent."
    if lead.erased_at is not None:
        return "The lead was erased before the email was sent."
    return None


async def deliver(outgoing: Outgoing, *, provider_id: str, settings: Settings) -> str | None:
    """Hand the email to the SMTP server; the error to record, or None once it took it."""
    if outgoing.refusal:
        return outgoing.refusal
    if not email_configured(settings):
        return "SMTP_HOST is not set."
    try:
        email = build_email(outgoing, provider_id=provider_id, settings=settings)
    except (ValueError, TypeError, IndexError, MessageError) as exc:
        return f"The email cannot be built: {exc}"
    security = settings.smtp_security
    try:
        # aiosmtplib's timeout bounds each step; this bounds the whole conversation.
        async with asyncio.timeout(settings.smtp_timeout_seconds):
            await aiosmtplib.send(
                email,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username or None,
                password=settings.smtp_password.get_secret_value() or None,
                use_tls=security == "tls",
                start_tls=security == "starttls",
                timeout=settings.smtp_timeout_seconds,
            )
    except TimeoutError:
        return f"The SMTP server did not finish within {settings.smtp_timeout_seconds} s."
    except (aiosmtplib.SMTPException, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def message_id_header(outgoing: Outgoing) -> str:
    """Derived from the row's id, so it is unique (provider_id is) and the same on any run."""
    _, address = parseaddr(outgoing.from_addr)
    domain = address.rpartition("@")[2] or FALLBACK_DOMAIN
    return f"<{outgoing.message_id}@{domain}>"


def build_email(outgoing: Outgoing, *, provider_id: str, settings: Settings) -> EmailMessage:
    assert outgoing.lead_id is not None  # refused earlier otherwise
    link = unsubscribe_url(outgoing.lead_id, settings)
    email = EmailMessage()
    email["From"] = outgoing.from_addr
    email["To"] = Address(addr_spec=outgoing.to_addr)
    # Subjects are rendered from form data, which may carry line breaks a header cannot.
    email["Subject"] = " ".join(outgoing.subject.split())
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = provider_id
    # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to this link.
    email["List-Unsubscribe"] = f"<{link}>"
    email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(outgoing.body + footer(outgoing.company, link))
    return email


def footer(company: str, link: str) -> str:
    sender = f" from {company}" if company else ""
    return f"\n\n-- \nTo stop receiving these emails{sender}, unsubscribe here:\n{link}\n"
