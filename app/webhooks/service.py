"""Outbound events: written with the change they describe, delivered to integrators' endpoints."""

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    Interval,
    Table,
    Text,
    and_,
    bindparam,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.errors import NotFound
from app.models import (
    Attempt,
    Event,
    Lead,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    new_id,
)
from app.queue import EVENTS_EMITTED
from app.webhooks.schemas import DeliveryOut, EndpointCreate, EndpointUpdate, EventType

SECRET_PREFIX = "whsec_"


async def emit(
    session: AsyncSession, *, type: EventType, data: dict[str, Any], lead_id: UUID | None = None
) -> None:
    """Record an event and owe it to every endpoint that wants it, in the caller's transaction."""
    params = {
        "event_id": new_id(),
        "type": type.value,
        "types": [type.value],
        "lead_id": lead_id,
        "data": data,
        "give_up": give_up_after(),
    }
    owed = await session.execute(EMIT, params)
    if owed.rowcount:  # type: ignore[attr-defined]
        session.info[EVENTS_EMITTED] = True


def emit_statement() -> Any:
    """One statement, built once with bind parameters: the event, and a delivery riding on it
    for every endpoint that wants it."""
    events = cast(Table, Event.__table__)
    event = (
        insert(events)
        .values(
            id=bindparam("event_id"),
            type=bindparam("type"),
            lead_id=bindparam("lead_id"),
            data=bindparam("data", type_=JSONB()),
        )
        .returning(events.c.id)
        .cte("event")
    )
    wanted = or_(
        func.cardinality(WebhookEndpoint.event_types) == 0,
        WebhookEndpoint.event_types.contains(bindparam("types", type_=ARRAY(Text()))),
    )
    endpoints = (
        select(
            func.gen_random_uuid().label("id"),
            event.c.id.label("event_id"),
            WebhookEndpoint.id.label("endpoint_id"),
            (func.now() + bindparam("give_up", type_=Interval())).label("give_up_at"),
        )
        .select_from(event.join(WebhookEndpoint, true()))
        .where(and_(WebhookEndpoint.enabled, wanted))
    )
    return (
        insert(cast(Table, WebhookDelivery.__table__))
        .from_select(["id", "event_id", "endpoint_id", "give_up_at"], endpoints)
        .add_cte(event)
    )


EMIT = emit_statement()


def give_up_after() -> timedelta:
    return timedelta(hours=get_settings().webhook_give_up_hours)


async def create_endpoint(session: AsyncSession, *, data: EndpointCreate) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        url=str(data.url),
        description=data.description,
        event_types=[t.value for t in data.event_types],
        secret=new_secret(),
    )
    session.add(endpoint)
    await session.flush()
    await session.refresh(endpoint)
    return endpoint


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


async def rotate_secret(
    session: AsyncSession, *, endpoint_id: UUID, grace: timedelta
) -> WebhookEndpoint:
    """A new secret signs from now on; the replaced one signs beside it for `grace`, so the
    integrator can switch without rejecting a delivery. Only the latest replaced one is kept."""
    endpoint = await session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    if endpoint is None:  # locked: two rotations at once must not lose one's secret
        raise NotFound(f"No webhook endpoint {endpoint_id}.", field="endpoint_id")
    if grace > timedelta(0):
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = datetime.now(UTC) + grace
    else:
        endpoint.previous_secret = endpoint.previous_secret_expires_at = None
    endpoint.secret = new_secret()
    await session.flush()
    await session.refresh(endpoint)
    return endpoint


async def get_endpoint(session: AsyncSession, *, endpoint_id: UUID) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}.", field="endpoint_id")
    return endpoint


async def list_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    return list(await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at)))


async def update_endpoint(
    session: AsyncSession, *, endpoint_id: UUID, data: EndpointUpdate
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, endpoint_id=endpoint_id)
    changes = data.model_dump(exclude_unset=True)
    # null for a column that cannot be empty means "unchanged", as if the field were left out
    changes = {k: v for k, v in changes.items() if v is not None or k == "description"}
    if "url" in changes:
        changes["url"] = str(changes["url"])
    if changes.get("event_types") is not None:
        changes["event_types"] = [EventType(t).value for t in changes["event_types"]]
    for key, value in changes.items():
        setattr(endpoint, key, value)
    await session.flush()
    await session.refresh(endpoint)
    return endpoint


async def delete_endpoint(session: AsyncSession, *, endpoint_id: UUID) -> None:
    await session.delete(await get_endpoint(session, endpoint_id=endpoint_id))
    await session.flush()


async def delivery_out(session: AsyncSession, delivery: WebhookDelivery) -> DeliveryOut:
    event_type = await session.scalar(select(Event.type).where(Event.id == delivery.event_id))
    history = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery.id)
        .order_by(WebhookAttempt.attempted_at)
    )
    return DeliveryOut.model_validate(
        {**delivery.__dict__, "event_type": event_type, "history": list(history)}
    )


async def list_deliveries(
    session: AsyncSession, *, endpoint_id: UUID, limit: int
) -> list[DeliveryOut]:
    await get_endpoint(session, endpoint_id=endpoint_id)
    rows = await session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    return [await delivery_out(session, row) for row in rows]


async def redeliver(session: AsyncSession, *, delivery_id: UUID) -> DeliveryOut:
    """Send a delivery again now, whatever became of it (an integrator fixed their endpoint)."""
    delivery = await session.scalar(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(
            status="pending", next_attempt_at=func.now(), give_up_at=func.now() + give_up_after()
        )
        .returning(WebhookDelivery)
    )
    if delivery is None:
        raise NotFound(f"No webhook delivery {delivery_id}.", field="delivery_id")
    return await delivery_out(session, delivery)


def lead_data(lead: Lead, source_slug: str | None = None) -> dict[str, Any]:
    return {
        "lead_id": str(lead.id),
        "source": source_slug,
        "status": lead.status,
        "phone": lead.phone,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "full_name": lead.full_name,
        "email": lead.email,
        "received_at": lead.received_at.isoformat() if lead.received_at else None,
    }


def attempt_data(attempt: Attempt) -> dict[str, Any]:
    def stamp(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "attempt_id": str(attempt.id),
        "lead_id": str(attempt.lead_id),
        "rep_id": str(attempt.rep_id) if attempt.rep_id else None,
        "outcome": attempt.outcome,
        "answered_by": attempt.answered_by,
        "ring_seconds": attempt.ring_seconds,
        "talk_seconds": attempt.talk_seconds,
        "total_seconds": attempt.total_seconds,
        "create_sent_at": stamp(attempt.create_sent_at),
        "rep_answered_at": stamp(attempt.rep_answered_at),
        "lead_answered_at": stamp(attempt.lead_answered_at),
        "ended_at": stamp(attempt.ended_at),
    }
