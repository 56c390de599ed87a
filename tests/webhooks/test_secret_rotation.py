"""A rotated webhook secret keeps signing beside the new one for its grace period, not after."""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import WebhookEndpoint
from tests.conftest import create_live_api_key
from tests.webhooks.conftest import (
    Receiver,
    add_endpoint,
    deliver_until_settled,
    documented_verify,
    owe_one_event,
)

OLD = "whsec_test"  # the secret add_endpoint subscribes with


async def rotate(
    client: httpx.AsyncClient, endpoint_id: object, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret", json=body or None, headers=headers
    )


async def test_rotation_shows_the_new_secret_once_with_the_grace_period(
    client: httpx.AsyncClient, api_key: dict[str, str]
) -> None:
    created = (
        await client.post(
            "/v1/webhook-endpoints", json={"url": "https://x.example/h"}, headers=api_key
        )
    ).json()
    rotated = await rotate(client, created["id"], api_key)
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    expires = datetime.fromisoformat(body["previous_secret_expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)
    fetched = (await client.get(f"/v1/webhook-endpoints/{created['id']}", headers=api_key)).json()
    assert "secret" not in fetched and "previous_secret" not in fetched
    assert fetched["previous_secret_expires_at"] == body["previous_secret_expires_at"]
    short = (await rotate(client, created["id"], api_key, grace_seconds=60)).json()
    until = datetime.fromisoformat(short["previous_secret_expires_at"])
    assert until - datetime.now(UTC) < timedelta(seconds=61)
    ended = (await rotate(client, created["id"], api_key, grace_seconds=0)).json()
    assert ended["previous_secret_expires_at"] is None


async def test_rotation_refusals(
    client: httpx.AsyncClient, session: AsyncSession, api_key: dict[str, str]
) -> None:
    from app.apikeys.service import Scope, create_api_key

    created = (
        await client.post(
            "/v1/webhook-endpoints", json={"url": "https://x.example/h"}, headers=api_key
        )
    ).json()
    missing = await rotate(client, "00000000-0000-0000-0000-000000000000", api_key)
    assert missing.status_code == 404
    negative = await rotate(client, created["id"], api_key, grace_seconds=-1)
    assert negative.status_code == 422 and negative.json()["error"]["field"] == "grace_seconds"
    _, writer = await create_api_key(session, name="writer", scopes=[Scope.write])
    refused = await rotate(client, created["id"], {"Authorization": f"Bearer {writer}"})
    assert refused.status_code == 403
    endpoint = await session.get(WebhookEndpoint, created["id"])
    assert endpoint is not None and endpoint.previous_secret is None  # nothing rotated


async def rotated_delivery(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    expired: bool,
) -> tuple[str, str, bytes]:
    """Rotate the endpoint's secret, owe an event, deliver: (new secret, header, body). The
    event is owed after the rotation: a worker running meanwhile may deliver it at once."""
    endpoint = await add_endpoint(sessions, receiver.url)
    headers = await create_live_api_key(sessions)
    new = (await rotate(client, endpoint.id, headers)).json()["secret"]
    if expired:
        async with sessions() as session, session.begin():
            past = datetime.now(UTC) - timedelta(seconds=1)
            await session.execute(update(WebhookEndpoint).values(previous_secret_expires_at=past))
    await owe_one_event(sessions, receiver.url, endpoint)
    delivery = await deliver_until_settled(sessions)
    assert delivery.status == "delivered"
    [(received, body)] = receiver.received
    return new, received["firstring-signature"], body


async def test_during_the_grace_period_either_secret_verifies(
    live_client: httpx.AsyncClient,
    live_sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
) -> None:
    new, header, body = await rotated_delivery(live_client, live_sessions, receiver, False)
    assert header.count("v1=") == 2
    new_sig = hmac.new(
        new.encode(), header.split(",")[0][2:].encode() + b"." + body, hashlib.sha256
    )
    assert header.split(",")[1] == f"v1={new_sig.hexdigest()}"  # the new secret's comes first
    verify = documented_verify()
    assert verify(new, header, body) and verify(OLD, header, body)
    assert not verify("whsec_someone_else", header, body)
    assert not verify(OLD, header, body + b" ")


async def test_after_the_grace_period_only_the_new_secret_verifies(
    live_client: httpx.AsyncClient,
    live_sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
) -> None:
    new, header, body = await rotated_delivery(live_client, live_sessions, receiver, True)
    assert header.count("v1=") == 1
    verify = documented_verify()
    assert verify(new, header, body)
    assert not verify(OLD, header, body)
    async with live_sessions() as session:
        stored = await session.scalar(select(WebhookEndpoint))
        assert stored is not None and stored.secret == new
