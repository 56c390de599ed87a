"""Shared by the webhook tests: a real HTTP receiver, an owed event, the README's snippet."""

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.models import Lead, Source, WebhookDelivery, WebhookEndpoint
from app.webhooks.delivery import deliver_due
from app.webhooks.schemas import EventType
from app.webhooks.service import emit
from tests.conftest import free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def documented_verify() -> Callable[..., bool]:
    """The verification snippet exactly as README shows it to integrators."""
    text = README.read_text()
    code = re.search(r"<!-- verify-snippet -->\n```python\n(.*?)```", text, re.S)
    assert code is not None, "README lost its verification snippet"
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    verify: Callable[..., bool] = namespace["verify"]
    return verify


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    found = Receiver(f"http://127.0.0.1:{port}/hooks")

    async def endpoint(request: Request) -> Response:
        found.received.append((dict(request.headers), await request.body()))
        status = found.answers.pop(0) if found.answers else 200
        return Response("ok" if status < 300 else "nope", status_code=status)

    app = Starlette(routes=[Route("/hooks", endpoint, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn offers no event to await
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield found
    server.should_exit = True
    await task


async def add_endpoint(sessions: async_sessionmaker[AsyncSession], url: str) -> WebhookEndpoint:
    async with sessions() as session, session.begin():
        endpoint = WebhookEndpoint(url=url, secret="whsec_test", event_types=[])
        session.add(endpoint)
    return endpoint


async def owe_one_event(
    sessions: async_sessionmaker[AsyncSession], url: str, endpoint: WebhookEndpoint | None = None
) -> tuple[WebhookEndpoint, Lead]:
    """A lead.received owed to the endpoint at `url` (added here unless given): committed, so a
    worker running meanwhile may deliver it at once."""
    endpoint = endpoint or await add_endpoint(sessions, url)
    async with sessions() as session, session.begin():
        source = Source(slug="hooks", name="Hooks")
        session.add(source)
        await session.flush()
        lead = Lead(source_id=source.id, phone="+14155550142", phone_raw="x")
        session.add(lead)
        await session.flush()
        await emit(session, type=EventType.lead_received, data={"lead_id": str(lead.id)})
    return endpoint, lead


async def deliver_until_settled(sessions: async_sessionmaker[AsyncSession]) -> WebhookDelivery:
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(100):
            await deliver_due(sessions, http)
            async with sessions() as session:
                delivery = await session.scalar(select(WebhookDelivery))
                assert delivery is not None
                if delivery.status != "pending":
                    return delivery
            await asyncio.sleep(0.05)
    raise AssertionError("the delivery never settled")
