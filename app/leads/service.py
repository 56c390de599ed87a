"""Leads: accepting one exactly once, reading them back, closing them."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.cadences import scheduler
from app.db import driver_connection, driver_errors
from app.errors import Conflict, InvalidField, NotFound
from app.leads.schemas import ClosingStatus, LeadOut, LeadUpdate
from app.models import Attempt, IntakeClaim, Lead, LeadStep, Source, new_id
from app.phones import to_dialable_e164
from app.queue import EVENTS_EMITTED
from app.webhooks.schemas import EventType
from app.webhooks.service import emit, give_up_after, lead_data

IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
LEAD_STATUS_CHANGED = EventType.lead_status_changed.value


@dataclass(frozen=True)
class Submission:
    """What a lead is made of, whichever door it came in by."""

    phone_raw: str | None
    phone_field: str
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    fields: dict[str, str] | None = None
    idempotency_key: str | None = None
    # The E.164 of phone_raw once a check before accept_lead (the intake's abuse checks) has
    # found it dialable for this submission's source, so the number is not parsed twice.
    phone: str | None = None


async def claim_holder(session: AsyncSession, *, source_id: UUID, keys: list[str]) -> UUID | None:
    """The lead holding the first of `keys` that is still claimed (unexpired), if any."""
    rows = await session.execute(
        select(IntakeClaim.claim_key, IntakeClaim.lead_id).where(
            IntakeClaim.source_id == source_id,
            IntakeClaim.claim_key.in_(keys),
            IntakeClaim.expires_at >= func.now(),
        )
    )
    held = {key: lead_id for key, lead_id in rows}
    return next((held[key] for key in keys if key in held), None)


def allowed_regions(source: Source) -> list[str] | None:
    """None: any country; an empty list: the source's own."""
    if source.allowed_countries is None:
        return None
    return source.allowed_countries or [source.default_region]


Claims = list[tuple[str, timedelta]]


def new_lead(
    source: Source, submission: Submission, duplicate_window: timedelta
) -> tuple[Lead, Claims]:
    """The lead a submission makes, due when its first call is, and the claims it must take
    (its phone for the duplicate window, its Idempotency-Key for a day)."""
    if not submission.phone_raw:
        raise InvalidField(
            f"No phone number found; send it in '{submission.phone_field}'.",
            field=submission.phone_field,
            code="missing_phone",
        )
    phone = submission.phone or to_dialable_e164(
        submission.phone_raw,
        region=source.default_region,
        allowed_regions=allowed_regions(source),
        field=submission.phone_field,
    )
    lead_id = new_id()
    claims = [(f"phone:{phone}", duplicate_window)]
    if submission.idempotency_key:
        claims.insert(0, (f"idempotency:{submission.idempotency_key}", IDEMPOTENCY_KEY_TTL))
    columns = new_lead_columns(lead_id, source, phone, submission)
    columns["dial_due_at"] = scheduler.first_call_due(
        lead_id, phone, source, columns["received_at"]
    )
    return Lead(**columns), claims


async def accept_lead(
    session: AsyncSession, *, source: Source, submission: Submission, duplicate_window: timedelta
) -> tuple[Lead, bool]:
    """Store a new lead due for dialing, or return the earlier one it duplicates."""
    lead, claims = new_lead(source, submission, duplicate_window)
    if source in session:  # a duplicate's rollback below would expire it halfway through
        session.expunge(source)
    connection = await driver_connection(session)
    with driver_errors():
        stored, owed = await store_new_lead(
            connection, lead, claims=claims, source_slug=source.slug
        )
    if stored:
        if owed:
            session.info[EVENTS_EMITTED] = True
        return lead, False
    await session.rollback()  # drop any claim this request took before it lost
    holder = await claim_holder(session, source_id=source.id, keys=[key for key, _ in claims])
    if holder is None:  # the claim that beat this one expired meanwhile: the lead is new
        return await accept_lead(
            session, source=source, submission=submission, duplicate_window=duplicate_window
        )
    return await get_lead_row(session, lead_id=holder), True


async def store_committed(
    connection: asyncpg.Connection, lead: Lead, *, claims: Claims, source_slug: str
) -> tuple[bool, bool]:
    """store_new_lead on a connection outside any transaction: committed when this returns.
    One claim needs no transaction (a claim held by an earlier lead means nothing was
    written); with two, the statement could take one before losing the other, so it runs in
    a transaction rolled back on a loss, and a losing request leaves no claim behind."""
    if len(claims) == 1:
        return await store_new_lead(connection, lead, claims=claims, source_slug=source_slug)
    transaction = connection.transaction()
    with driver_errors():
        await transaction.start()
        try:
            stored, owed = await store_new_lead(
                connection, lead, claims=claims, source_slug=source_slug
            )
        except BaseException:
            await transaction.rollback()
            raise
        await (transaction.commit() if stored else transaction.rollback())
    return stored, owed


# The intake's whole write in one statement (one round trip and no ORM work, which cost more
# CPU than the rest of the intake): take every claim, and only if all were free store the lead
# and its lead.received event, owed to each endpoint that wants it (as webhooks.service.emit).
STORE_NEW_LEAD = """
WITH claim AS (
    INSERT INTO intake_claims (source_id, claim_key, lead_id, expires_at)
    SELECT $2, key, $1, now() + ttl FROM unnest($3::text[], $4::interval[]) AS c(key, ttl)
    ON CONFLICT (source_id, claim_key) DO UPDATE
        SET lead_id = EXCLUDED.lead_id, expires_at = EXCLUDED.expires_at
        WHERE intake_claims.expires_at < now()
    RETURNING 1
), lead AS (
    INSERT INTO leads (
        id, source_id, status, phone, phone_raw, phone_field, first_name, last_name,
        full_name, email, fields, idempotency_key, received_at, created_at, updated_at,
        dial_due_at
    )
    SELECT $1, $2, 'new', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $14, $15
    WHERE (SELECT count(*) FROM claim) = cardinality($3::text[])
    RETURNING id
), event AS (
    INSERT INTO events (id, type, lead_id, data)
    SELECT $16, 'lead.received', id, $17 FROM lead
    RETURNING id
), owed AS (
    INSERT INTO webhook_deliveries (id, event_id, endpoint_id, give_up_at)
    SELECT gen_random_uuid(), event.id, endpoint.id, now() + $18::interval
    FROM event JOIN webhook_endpoints AS endpoint
      ON endpoint.enabled
     AND (cardinality(endpoint.event_types) = 0
          OR endpoint.event_types @> ARRAY['lead.received'])
    RETURNING 1
)
SELECT (SELECT count(*) FROM lead), (SELECT count(*) FROM owed)
"""


async def store_new_lead(
    connection: asyncpg.Connection, lead: Lead, *, claims: Claims, source_slug: str
) -> tuple[bool, bool]:
    """(stored, webhook deliveries owed): not stored when a claim is held by an earlier lead,
    a duplicate. Prepared once per connection (asyncpg's statement cache)."""
    with driver_errors():
        stored, owed = await connection.fetchrow(
            STORE_NEW_LEAD,
            lead.id,
            lead.source_id,
            [key for key, _ in claims],
            [ttl for _, ttl in claims],
            lead.phone,
            lead.phone_raw,
            lead.phone_field,
            lead.first_name,
            lead.last_name,
            lead.full_name,
            lead.email,
            json.dumps(lead.fields),
            lead.idempotency_key,
            lead.received_at,
            lead.dial_due_at,
            new_id(),
            json.dumps(lead_data(lead, source_slug)),
            give_up_after(),
        )
    return bool(stored), bool(owed)


def new_lead_columns(
    lead_id: UUID, source: Source, phone: str, submission: Submission
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return dict(
        id=lead_id,
        source_id=source.id,
        status="new",
        phone=phone,
        phone_raw=submission.phone_raw,
        phone_field=submission.phone_field,
        first_name=submission.first_name,
        last_name=submission.last_name,
        full_name=submission.full_name,
        email=submission.email,
        fields=submission.fields or {},
        idempotency_key=submission.idempotency_key,
        received_at=now,
        created_at=now,
        updated_at=now,
        dial_due_at=now,
    )


async def get_lead_row(session: AsyncSession, *, lead_id: UUID) -> Lead:
    lead = await session.get(Lead, lead_id)
    if lead is None:
        raise NotFound(f"No lead {lead_id}.", field="lead_id")
    return lead


def lead_out(lead: Lead, source_slug: str) -> LeadOut:
    return LeadOut.model_validate({**lead.__dict__, "source": source_slug})


async def get_lead(session: AsyncSession, *, lead_id: UUID) -> LeadOut:
    row = (
        await session.execute(select(Lead, Source.slug).join(Source).where(Lead.id == lead_id))
    ).first()
    if row is None:
        raise NotFound(f"No lead {lead_id}.", field="lead_id")
    return lead_out(row[0], row[1])


@dataclass(frozen=True)
class LeadFilters:
    status: str | None = None
    source: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def encode_cursor(row: Lead | Attempt) -> str:
    """Keyset position of a row ordered by (created_at, id)."""
    raw = json.dumps([row.created_at.isoformat(), str(row.id)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        created, lead_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created), UUID(lead_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidField("The cursor is not one this API gave out.", field="cursor") from exc


def filtered(query: Select[Lead, str], filters: LeadFilters) -> Select[Lead, str]:
    if filters.status is not None:
        query = query.where(Lead.status == filters.status)
    if filters.source is not None:
        query = query.where(Source.slug == filters.source)
    if filters.created_after is not None:
        query = query.where(Lead.created_at >= filters.created_after)
    if filters.created_before is not None:
        query = query.where(Lead.created_at < filters.created_before)
    return query


async def list_leads(
    session: AsyncSession, *, filters: LeadFilters, limit: int, cursor: str | None
) -> tuple[list[LeadOut], str | None]:
    """Newest first, keyset-paginated on (created_at, id) so pages stay stable under inserts."""
    query = filtered(select(Lead, Source.slug).join(Source), filters)
    if cursor is not None:
        created, lead_id = decode_cursor(cursor)
        query = query.where(
            or_(Lead.created_at < created, and_(Lead.created_at == created, Lead.id < lead_id))
        )
    rows = (
        await session.execute(
            query.order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit + 1)
        )
    ).all()
    page = [lead_out(lead, slug) for lead, slug in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
    return page, next_cursor


async def update_lead(session: AsyncSession, *, lead_id: UUID, data: LeadUpdate) -> LeadOut:
    """Switch the lead's cadence and/or close it.

    Locks follow the scheduler's order, cadence before lead, so an edit of the cadence or a
    step firing for this lead waits instead of deadlocking."""
    await get_lead_row(session, lead_id=lead_id)
    if data.cadence_id is not None:
        if await scheduler.share_lock_cadence(session, data.cadence_id) is None:
            raise InvalidField(f"No cadence {data.cadence_id}.", field="cadence_id")
    lead = await session.scalar(
        select(Lead)
        .where(Lead.id == lead_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if lead is None:
        raise NotFound(f"No lead {lead_id}.", field="lead_id")
    if lead.erased_at is not None:
        raise Conflict("The lead was erased; it cannot be changed.", field="lead_id")
    if data.cadence_id is not None and data.cadence_id != lead.cadence_id:
        await switch_cadence(session, lead, cadence_id=data.cadence_id)
    if data.status is not None and data.status != lead.status:
        await close_lead(session, lead, status=data.status)
    await session.flush()
    return await get_lead(session, lead_id=lead_id)


async def switch_cadence(session: AsyncSession, lead: Lead, *, cadence_id: UUID) -> None:
    """A touch already waiting is replaced at once by the new cadence's next one, timed as a
    cadence edit times it (progress by delay carries over); with none waiting, the next
    planning reads the new cadence anyway."""
    lead.cadence_id = cadence_id
    if scheduler.has_ended(lead):
        return
    replaced = await session.execute(
        update(LeadStep)
        .where(LeadStep.lead_id == lead.id, LeadStep.status == "pending", LeadStep.kind != "ack")
        .values(
            status="canceled", result=f"switched to cadence {cadence_id}", updated_at=func.now()
        )
        .returning(LeadStep.created_at)
    )
    planned_at = replaced.scalars().all()
    if planned_at:  # the waiting touch was planned when the previous one ended
        await scheduler.plan_next(session, lead, anchor=min(planned_at))


async def close_lead(session: AsyncSession, lead: Lead, *, status: ClosingStatus) -> None:
    previous = lead.status
    await scheduler.stop_cadence(session, lead, reason=f"lead {status}")
    lead.status = status
    data = {**lead_data(lead), "previous_status": previous}
    await emit(session, type=EventType.lead_status_changed, data=data, lead_id=lead.id)
