"""Sending outbound webhooks: now, at each retry's due time, and at every sweep."""

from typing import Any

import httpx

from app.queue import enqueue_webhook_delivery
from app.webhooks.delivery import deliver_due, next_due_in
from workers.dial import sessions

# Retries further out than this are left to the sweeper rather than a deferred job.
DEFER_HORIZON_SECONDS = 60.0


async def deliver_webhooks(ctx: dict[str, Any]) -> int:
    http: httpx.AsyncClient = ctx["webhook_http"]
    tried = await deliver_due(sessions(ctx), http)
    async with sessions(ctx)() as session:
        due_in = await next_due_in(session)
    if due_in is not None and due_in <= DEFER_HORIZON_SECONDS:
        await enqueue_webhook_delivery(ctx["redis"], defer_seconds=due_in + 0.01)
    return tried
