"""Outbound webhooks: subscriptions, the outbox, signed deliveries, retries and redelivery."""

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Event, Source, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.webhooks.conftest import (
    Receiver,
    deliver_until_settled,
    documented_verify,
    owe_one_event,
)


async def test_endpoints_are_managed_and_the_secret_is_shown_once(
    client: httpx.AsyncClient, api_key: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://crm.example.com/hook", "event_types": ["lead.received"]},
        headers=api_key,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["event_types"] == ["lead.received"]
    fetched = await client.get(f"/v1/webhook-endpoints/{body['id']}", headers=api_key)
    assert "secret" not in fetched.json()
    off = await client.patch(
        f"/v1/webhook-endpoints/{body['id']}", json={"enabled": False}, headers=api_key
    )
    assert off.json()["enabled"] is False
    listed = await client.get("/v1/webhook-endpoints", headers=api_key)
    assert [e["id"] for e in listed.json()["data"]] == [body["id"]]
    gone = await client.delete(f"/v1/webhook-endpoints/{body['id']}", headers=api_key)
    assert gone.status_code == 204
    missing = await client.get(f"/v1/webhook-endpoints/{body['id']}", headers=api_key)
    assert missing.status_code == 404


async def test_bad_subscriptions_are_refused(
    client: httpx.AsyncClient, api_key: dict[str, str]
) -> None:
    for payload, field_name in (
        ({"url": "not a url"}, "url"),
        ({"url": "https://x.example", "event_types": ["lead.exploded"]}, "event_types.0"),
    ):
        response = await client.post("/v1/webhook-endpoints", json=payload, headers=api_key)
        assert response.status_code == 422
        assert response.json()["error"]["field"] == field_name
    assert (await client.get("/v1/webhook-endpoints", headers=api_key)).json()["data"] == []


async def test_intake_writes_its_event_in_the_same_transaction(
    client: httpx.AsyncClient, session: AsyncSession, source: Source
) -> None:
    endpoint = WebhookEndpoint(url="https://x.example/h", secret="whsec_x", event_types=[])
    only_waiting = WebhookEndpoint(
        url="https://y.example/h", secret="whsec_y", event_types=["lead.waiting"]
    )
    session.add_all([endpoint, only_waiting])
    await session.flush()
    wants_all = endpoint.id  # the duplicate's rollback expires loaded objects
    payload = {"name": "Ada", "phone": "4155550142"}
    first = await client.post("/hooks/forms/landing", json=payload)
    await client.post("/hooks/forms/landing", json=payload)
    events = list(await session.scalars(select(Event).order_by(Event.created_at)))
    assert [e.type for e in events] == ["lead.received", "lead.duplicate"]
    assert events[0].data["lead_id"] == first.json()["lead_id"]
    owed = list(await session.scalars(select(WebhookDelivery)))
    assert {d.endpoint_id for d in owed} == {wants_all} and len(owed) == 2
    refused = await client.post("/hooks/forms/landing", json={"name": "No phone"})
    assert refused.status_code == 422
    assert len(list(await session.scalars(select(Event)))) == 2  # nothing for a refused lead


async def test_a_failing_endpoint_gets_each_retry_then_the_delivery_succeeds(
    live_client: httpx.AsyncClient,
    live_sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
) -> None:
    receiver.answers = [500, 503, 200]
    endpoint, _ = await owe_one_event(live_sessions, receiver.url)
    delivery = await deliver_until_settled(live_sessions)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    assert len(receiver.received) == 3
    assert len({body for _, body in receiver.received}) == 1  # the same event each time
    verify = documented_verify()
    for headers, body in receiver.received:
        assert verify("whsec_test", headers["firstring-signature"], body)
        assert headers["firstring-event-type"] == "lead.received"
    async with live_sessions() as session:
        tries = await session.scalars(
            select(WebhookAttempt.status_code).order_by(WebhookAttempt.attempted_at)
        )
        assert list(tries) == [500, 503, 200]


async def test_redeliver_sends_a_delivered_event_again(
    live_client: httpx.AsyncClient,
    live_sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    api_key: dict[str, str],
) -> None:
    from tests.conftest import create_live_api_key

    await owe_one_event(live_sessions, receiver.url)
    delivery = await deliver_until_settled(live_sessions)
    headers = await create_live_api_key(live_sessions)
    again = await live_client.post(
        f"/v1/webhook-deliveries/{delivery.id}/redeliver", headers=headers
    )
    assert again.status_code == 200 and again.json()["status"] == "pending"
    await deliver_until_settled(live_sessions)
    assert len(receiver.received) == 2
    listed = await live_client.get(
        f"/v1/webhook-endpoints/{delivery.endpoint_id}/deliveries", headers=headers
    )
    [shown] = listed.json()["data"]
    assert shown["event_type"] == "lead.received" and len(shown["history"]) == 2
    missing = await live_client.post(
        f"/v1/webhook-deliveries/{delivery.event_id}/redeliver", headers=headers
    )
    assert missing.status_code == 404


async def test_a_delivery_gives_up_after_its_window(
    live_client: httpx.AsyncClient,
    live_sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
) -> None:
    receiver.answers = [500] * 10
    await owe_one_event(live_sessions, receiver.url)
    async with live_sessions() as session, session.begin():
        delivery = await session.scalar(select(WebhookDelivery))
        assert delivery is not None
        delivery.give_up_at = delivery.created_at
    settled = await deliver_until_settled(live_sessions)
    assert (settled.status, settled.attempts) == ("failed", 1)


def test_the_documented_snippet_rejects_tampering() -> None:
    import hashlib
    import hmac
    import time

    verify = documented_verify()
    body = b'{"id":"evt","type":"lead.received"}'
    t = str(int(time.time()))
    good = hmac.new(b"whsec_k", t.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert verify("whsec_k", f"t={t},v1={good}", body)
    assert not verify("whsec_k", f"t={t},v1={good}", body + b" ")
    tampered = good[:-1] + ("1" if good.endswith("0") else "0")
    assert not verify("whsec_k", f"t={t},v1={tampered}", body)
    # During a secret rotation the header carries a v1 per secret; any one may match.
    assert verify("whsec_k", f"t={t},v1={tampered},v1={good}", body)
    assert verify("whsec_k", f"t={t},v1={good},v1={tampered}", body)
    assert not verify("whsec_k", f"t={t},v1={tampered},v1={tampered}", body)
    assert not verify("whsec_k", f"t={t}", body)
    assert not verify("whsec_other", f"t={t},v1={good}", body)
    old = str(int(time.time()) - 3600)
    stale = hmac.new(b"whsec_k", old.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert not verify("whsec_k", f"t={old},v1={stale}", body)
    assert not verify("whsec_k", "garbage", body)
