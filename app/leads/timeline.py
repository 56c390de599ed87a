"""A lead's timeline: every call, message, touch that did not happen and turn in its story.

One indexed query per kind, each reading only this lead's newest `limit` rows, merged in
memory: the lead's rows are few, and a timeline never reads another lead's.
"""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.leads.schemas import Timeline, TimelineItem, TimelineType
from app.leads.service import LEAD_STATUS_CHANGED
from app.models import Attempt, Event, Lead, LeadStep, Message, Rep, Source
from app.webhooks.schemas import EventType

MAX_ITEMS = 500
PREVIEW_CHARS = 80
CHANNEL_NAMES = {"call": "Call", "sms": "SMS", "email": "Email"}
NOT_HAPPENED = {"skipped": TimelineType.step_skipped, "canceled": TimelineType.step_canceled}
EVENT_TYPES = {
    EventType.lead_opted_out.value: TimelineType.opted_out,
    EventType.lead_disposition.value: TimelineType.disposition,
    LEAD_STATUS_CHANGED: TimelineType.status_changed,
}
# What each event says on the timeline; the rest of its data repeats the lead.
EVENT_KEYS = {
    TimelineType.opted_out: ("reason",),
    TimelineType.disposition: ("disposition", "attempt_id", "rep_id"),
    TimelineType.status_changed: ("status", "previous_status"),
}


def item(
    at: Any,
    kind: TimelineType,
    summary: str,
    details: dict[str, Any],
    channel: str | None = None,
    direction: str | None = None,
) -> TimelineItem:
    return TimelineItem(
        at=at, type=kind, channel=channel, direction=direction, summary=summary, details=details
    )


def preview(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"


async def received(session: AsyncSession, lead_id: UUID) -> TimelineItem:
    row = (
        await session.execute(
            select(Lead.received_at, Source.slug, Source.name)
            .join(Source, Source.id == Lead.source_id)
            .where(Lead.id == lead_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"No lead {lead_id}.", field="lead_id")
    details = {"source": row.slug, "source_name": row.name}
    return item(row.received_at, TimelineType.received, f"Lead received from {row.name}", details)


def call_summary(attempt: Attempt, rep_name: str | None) -> str:
    parts = [f"Call through {rep_name or 'a rep'}: {attempt.outcome or attempt.status}"]
    if attempt.talk_seconds:
        parts.append(f"talked {attempt.talk_seconds} s")
    if attempt.disposition:
        parts.append(f"disposition {attempt.disposition}")
    return ", ".join(parts)


async def calls(session: AsyncSession, lead_id: UUID, limit: int) -> list[TimelineItem]:
    rows = await session.execute(
        select(Attempt, Rep.name)
        .outerjoin(Rep, Rep.id == Attempt.rep_id)
        .where(Attempt.lead_id == lead_id)
        .order_by(Attempt.created_at.desc())
        .limit(limit)
    )
    return [
        item(
            attempt.create_sent_at or attempt.created_at,
            TimelineType.call,
            call_summary(attempt, rep_name),
            {
                "attempt_id": attempt.id,
                "rep_id": attempt.rep_id,
                "rep_name": rep_name,
                "status": attempt.status,
                "outcome": attempt.outcome,
                "answered_by": attempt.answered_by,
                "disposition": attempt.disposition,
                "ring_seconds": attempt.ring_seconds,
                "talk_seconds": attempt.talk_seconds,
                "total_seconds": attempt.total_seconds,
                "rep_answered_at": attempt.rep_answered_at,
                "lead_answered_at": attempt.lead_answered_at,
                "ended_at": attempt.ended_at,
                "error": attempt.error,
            },
            channel="call",
            direction="out",
        )
        for attempt, rep_name in rows
    ]


def message_summary(message: Message) -> str:
    name = CHANNEL_NAMES.get(message.channel, message.channel)
    text = message.body if message.channel == "sms" else message.subject or message.body
    return f"{name} {message.status}: {preview(text)}"


async def messages(session: AsyncSession, lead_id: UUID, limit: int) -> list[TimelineItem]:
    rows = await session.scalars(
        select(Message)
        .where(Message.lead_id == lead_id)
        .order_by(Message.created_at.desc())
        .limit(limit)
    )
    return [
        item(
            message.created_at,
            TimelineType.message,
            message_summary(message),
            {
                "message_id": message.id,
                "status": message.status,
                "from": message.from_addr,
                "to": message.to_addr,
                "subject": message.subject,
                "body": message.body,
                "error": message.error,
                "rep_id": message.rep_id,
                "lead_step_id": message.lead_step_id,
            },
            channel=message.channel,
            direction=message.direction,
        )
        for message in rows
    ]


async def steps_not_taken(session: AsyncSession, lead_id: UUID, limit: int) -> list[TimelineItem]:
    decided_at = func.coalesce(LeadStep.fired_at, LeadStep.updated_at)
    rows = await session.execute(
        select(LeadStep, decided_at)
        .where(LeadStep.lead_id == lead_id, LeadStep.status.in_(list(NOT_HAPPENED)))
        .order_by(decided_at.desc())
        .limit(limit)
    )
    return [
        item(
            at,
            NOT_HAPPENED[step.status],
            f"{CHANNEL_NAMES.get(step.channel, step.channel)} {step.kind} {step.status}: "
            f"{step.result or 'no reason recorded'}",
            {
                "lead_step_id": step.id,
                "step_id": step.step_id,
                "cadence_id": step.cadence_id,
                "kind": step.kind,
                "due_at": step.due_at,
                "result": step.result,
            },
            channel=step.channel,
        )
        for step, at in rows
    ]


def event_summary(kind: TimelineType, data: dict[str, Any]) -> str:
    if kind == TimelineType.opted_out:
        return f"Opted out: {data.get('reason') or 'no reason given'}"
    if kind == TimelineType.disposition:
        return f"Rep's disposition: {data.get('disposition')}"
    return f"Status set to {data.get('status')}"


async def events(session: AsyncSession, lead_id: UUID, limit: int) -> list[TimelineItem]:
    rows = await session.scalars(
        select(Event)
        .where(Event.lead_id == lead_id, Event.type.in_(list(EVENT_TYPES)))
        .order_by(Event.created_at.desc())
        .limit(limit)
    )
    found = []
    for event in rows:
        kind = EVENT_TYPES[event.type]
        details = {key: event.data.get(key) for key in EVENT_KEYS[kind]}
        found.append(item(event.created_at, kind, event_summary(kind, event.data), details))
    return found


def newest(items: Iterable[TimelineItem], limit: int) -> tuple[list[TimelineItem], bool]:
    """Oldest first; a stable sort keeps items of the same instant in the order gathered."""
    ordered = sorted(items, key=lambda entry: entry.at)
    return ordered[-limit:], len(ordered) > limit


async def lead_timeline(
    session: AsyncSession, *, lead_id: UUID, limit: int = MAX_ITEMS
) -> Timeline:
    """The lead's newest `limit` items, oldest first; `truncated` says whether there were more.

    Each kind reads one more row than `limit`, so a full kind alone shows the cut."""
    first = await received(session, lead_id)
    every = [first]
    for kind in (calls, messages, events, steps_not_taken):
        every += await kind(session, lead_id, limit + 1)
    items, truncated = newest(every, limit)
    return Timeline(lead_id=lead_id, items=items, truncated=truncated)
