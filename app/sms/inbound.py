"""SMS in: every text a person sends our numbers is kept on their lead's timeline; the standard
keywords opt them out, back in or get help, and anything else goes to the lead's last rep.

Keywords are Twilio's defaults for long codes, matched on the whole body, trimmed, in any case,
with surrounding punctuation ignored ("Stop." opts out too: missing an opt-out costs more than
honouring one too many). YES is an opt-in keyword only for a number that is opted out: the
default cadence asks leads to "reply YES" to be called, and that reply is for the rep.
"""

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.cadences import scheduler
from app.cadences.templates import company_name
from app.config import Settings
from app.dnc import service as dnc
from app.models import Attempt, DoNotCall, Lead, Message, Rep, Source
from app.sms.service import queue_sms, sms_sender

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
ADDED_BY = "sms"  # DNC rows a STOP made; only these does a START remove
OPT_OUT_REASON = "sms_stop"
PUNCTUATION = " \t\r\n.,!?;:'\"()"


@dataclass(frozen=True)
class Inbound:
    """What the webhook answers (a reply, or none) and what to send once it has committed."""

    reply: str | None = None
    forward_id: UUID | None = None


def keyword_of(body: str) -> str:
    return body.strip(PUNCTUATION).upper()


async def receive_sms(
    session: AsyncSession, *, params: dict[str, str], settings: Settings
) -> Inbound:
    """Store the text, then act on it. A text the carrier posts twice (same MessageSid) gets
    the same answer but changes nothing more."""
    leads = await leads_with_phone(session, params.get("From", ""))
    first_time = await store(session, params=params, lead=leads[0] if leads else None)
    company = await company_for(session, leads[0] if leads else None, ours=params.get("To", ""))
    received = await act(
        session,
        params=params,
        leads=leads,
        first_time=first_time,
        company=company,
        settings=settings,
    )
    # A Messaging Service with Advanced Opt-Out answers its keywords itself and says so with
    # OptOutType: a second answer from us would only repeat it.
    if params.get("OptOutType"):
        return Inbound(forward_id=received.forward_id)
    return received


async def act(
    session: AsyncSession,
    *,
    params: dict[str, str],
    leads: list[Lead],
    first_time: bool,
    company: str | None,
    settings: Settings,
) -> Inbound:
    sender, body = params.get("From", ""), params.get("Body", "")
    keyword = keyword_of(body)
    # OptOutType=STOP also covers opt-out keywords the account added (e.g. in Spanish).
    if keyword in OPT_OUT_KEYWORDS or params.get("OptOutType") == "STOP":
        if first_time:
            await opt_out(session, phone=sender, leads=leads)
        return Inbound(reply=opted_out_text(company))
    if keyword in OPT_IN_KEYWORDS and (
        keyword != "YES" or await is_opted_out(session, phone=sender, leads=leads)
    ):
        if not first_time:
            return Inbound(reply=opted_in_text(company))
        return Inbound(reply=await opt_in(session, phone=sender, leads=leads, company=company))
    if keyword in HELP_KEYWORDS:
        return Inbound(reply=help_text(company))
    if not leads or not first_time:
        return Inbound()
    forward = await forward_to_rep(session, lead=leads[0], body=body, settings=settings)
    return Inbound(forward_id=forward.id if forward else None)


async def leads_with_phone(session: AsyncSession, phone: str) -> list[Lead]:
    """Newest first, locked: a cadence step firing for one of them waits for the opt-out."""
    if not phone:
        return []
    rows = await session.scalars(
        select(Lead)
        .where(Lead.phone == phone)
        .order_by(Lead.received_at.desc(), Lead.id)
        .with_for_update()
    )
    return list(rows)


async def store(session: AsyncSession, *, params: dict[str, str], lead: Lead | None) -> bool:
    """The text on the lead's timeline (or on none); False if this MessageSid was stored before."""
    stored = await session.scalar(
        insert(Message)
        .values(
            lead_id=lead.id if lead else None,
            channel="sms",
            direction="in",
            to_addr=params.get("To", ""),
            from_addr=params.get("From", ""),
            body=params.get("Body", ""),
            status="received",
            provider_id=params.get("MessageSid") or None,
        )
        .on_conflict_do_nothing(index_elements=[Message.provider_id])
        .returning(Message.id)
    )
    return stored is not None


async def company_for(session: AsyncSession, lead: Lead | None, *, ours: str) -> str | None:
    """The lead's source's company; for a stranger, the source that texts from this number."""
    if lead is not None:
        source = await session.get(Source, lead.source_id)
    else:
        source = await session.scalar(
            select(Source)
            .where(or_(Source.sms_from == ours, Source.caller_id == ours))
            .order_by(Source.created_at)
            .limit(1)
        )
    return company_name(source) if source else None


async def opt_out(session: AsyncSession, *, phone: str, leads: list[Lead]) -> None:
    """At once: the number on the do-not-call list, every lead with it out of its cadence.
    A number already listed keeps its row (and whoever added it)."""
    await dnc.add(session, phone=phone, reason="replied STOP", added_by=ADDED_BY)
    for lead in leads:
        await scheduler.opt_out(session, lead, reason=OPT_OUT_REASON)


async def is_opted_out(session: AsyncSession, *, phone: str, leads: list[Lead]) -> bool:
    if any(lead.opted_out_at is not None for lead in leads):
        return True
    return await dnc.is_do_not_call(session, phone=phone)


async def opt_in(
    session: AsyncSession, *, phone: str, leads: list[Lead], company: str | None
) -> str:
    """Lift only what a STOP did: a number an integrator listed stays listed, and its leads
    stay opted out."""
    entry = await session.get(DoNotCall, phone)
    if entry is not None and entry.added_by != ADDED_BY:
        return still_listed_text(company)
    await session.execute(
        delete(DoNotCall).where(DoNotCall.phone == phone, DoNotCall.added_by == ADDED_BY)
    )
    for lead in leads:
        if lead.opted_out_at is not None:
            await scheduler.opt_in(session, lead)
    return opted_in_text(company)


async def forward_to_rep(
    session: AsyncSession, *, lead: Lead, body: str, settings: Settings
) -> Message | None:
    """Queue the reply to the rep of the lead's latest attempt; sent after the commit."""
    rep = await session.scalar(
        select(Rep)
        .join(Attempt, Attempt.rep_id == Rep.id)
        .where(Attempt.lead_id == lead.id)
        .order_by(Attempt.created_at.desc())
        .limit(1)
    )
    source = await session.get(Source, lead.source_id)
    if rep is None or source is None:
        return None
    text = f"Reply from {lead_name(lead)} ({lead.phone}): {body.strip()}"
    sender = sms_sender(source, settings)
    return await queue_sms(session, lead=lead, to=rep.phone, from_=sender, body=text, rep_id=rep.id)


def lead_name(lead: Lead) -> str:
    parts = [lead.first_name, lead.last_name]
    return lead.full_name or " ".join(p for p in parts if p) or "your lead"


def opted_out_text(company: str | None) -> str:
    return (
        f"You are unsubscribed and will get no more texts or calls from {company or 'us'}. "
        "Reply START to resubscribe."
    )


def opted_in_text(company: str | None) -> str:
    return (
        f"You are resubscribed to texts from {company or 'us'}. Reply STOP to unsubscribe, "
        "HELP for help."
    )


def still_listed_text(company: str | None) -> str:
    who = company or "the business that contacted you"
    return f"This number is on a do-not-contact list. Please contact {who} to be taken off it."


def help_text(company: str | None) -> str:
    intro = f"{company}: texts" if company else "Texts"
    return f"{intro} about your request. Reply STOP to opt out, START to opt back in."
