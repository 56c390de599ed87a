"""Sending owed deliveries: signed like Stripe's webhooks, retried with exponential backoff."""

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import get_settings
from app.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint

SIGNATURE_HEADER = "FirstRing-Signature"
BATCH = 50
# A claimed delivery is hidden this long beyond the request timeout, so a crashed sender's
# deliveries come back on their own.
CLAIM_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True)
class Outgoing:
    delivery_id: UUID
    url: str
    secret: str
    body: bytes
    headers: dict[str, str]


def sign(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """One v1 per secret, as Stripe does: a receiver accepts when any of them matches."""
    message = f"{timestamp}.".encode() + body
    digests = (hmac.new(s.encode(), message, hashlib.sha256).hexdigest() for s in secrets)
    return f"t={timestamp}," + ",".join(f"v1={digest}" for digest in digests)


def signing_secrets(endpoint: WebhookEndpoint, at: datetime) -> list[str]:
    """The current secret, and the one it replaced while that one's grace period runs."""
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > at:
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]


def event_body(event: Event) -> bytes:
    document = {
        "id": str(event.id),
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "data": event.data,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def outgoing(delivery: WebhookDelivery, endpoint: WebhookEndpoint, event: Event) -> Outgoing:
    body = event_body(event)
    now = time.time()
    signers = signing_secrets(endpoint, datetime.fromtimestamp(now, UTC))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "FirstRing-Webhooks/1",
        SIGNATURE_HEADER: sign(signers, int(now), body),
        "FirstRing-Event-Id": str(event.id),
        "FirstRing-Event-Type": event.type,
        "FirstRing-Delivery-Id": str(delivery.id),
    }
    return Outgoing(delivery.id, endpoint.url, endpoint.secret, body, headers)


async def claim_due(session: AsyncSession, *, limit: int = BATCH) -> list[Outgoing]:
    """Take due deliveries for this sender only (SKIP LOCKED), hiding them for the send."""
    now = datetime.now(UTC)
    rows = (
        await session.execute(
            select(WebhookDelivery, WebhookEndpoint, Event)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        )
    ).all()
    hidden_until = now + timedelta(seconds=get_settings().webhook_timeout_seconds) + CLAIM_MARGIN
    for delivery, _, _ in rows:
        delivery.next_attempt_at = hidden_until
    return [outgoing(delivery, endpoint, event) for delivery, endpoint, event in rows]


async def send(http: httpx.AsyncClient, item: Outgoing) -> tuple[int | None, str | None, int]:
    started = time.perf_counter()
    try:
        response = await http.post(item.url, content=item.body, headers=item.headers)
        status, error = response.status_code, None if response.is_success else response.text[:300]
    except httpx.HTTPError as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"[:300]
    return status, error, round((time.perf_counter() - started) * 1000)


def next_try(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s ... doubling, capped at an hour between tries."""
    base = get_settings().webhook_retry_base_seconds
    return timedelta(seconds=min(base * 2 ** (attempts - 1), 3600))


async def record(
    session: AsyncSession, item: Outgoing, status: int | None, error: str | None, duration_ms: int
) -> None:
    now = datetime.now(UTC)
    session.add(
        WebhookAttempt(
            delivery_id=item.delivery_id,
            status_code=status,
            error=error,
            duration_ms=duration_ms,
            attempted_at=now,
        )
    )
    delivery = await session.get(WebhookDelivery, item.delivery_id, with_for_update=True)
    if delivery is None:
        return
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = status, error
    if status is not None and 200 <= status < 300:
        delivery.status, delivery.delivered_at = "delivered", now
    elif now + next_try(delivery.attempts) > delivery.give_up_at:
        delivery.status = "failed"
    else:
        delivery.next_attempt_at = now + next_try(delivery.attempts)


async def deliver_due(sessions: async_sessionmaker[AsyncSession], http: httpx.AsyncClient) -> int:
    """Send every due delivery, a batch at a time; returns how many were tried."""
    tried = 0
    while True:
        async with sessions() as session, session.begin():
            batch = await claim_due(session)
        if not batch:
            return tried
        for item in batch:
            status, error, duration_ms = await send(http, item)
            async with sessions() as session, session.begin():
                await record(session, item, status, error, duration_ms)
        tried += len(batch)


async def next_due_in(session: AsyncSession) -> float | None:
    """Seconds until the next pending delivery is due, for scheduling a wake-up."""
    due = await session.scalar(
        select(WebhookDelivery.next_attempt_at)
        .where(WebhookDelivery.status == "pending")
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(1)
    )
    return None if due is None else max(0.0, (due - datetime.now(UTC)).total_seconds())
