"""DELETE /v1/leads/{id}: personal data goes everywhere it was kept; the statistics stay."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.dialer import start_round
from app.models import (
    Attempt,
    CallEvent,
    Event,
    IntakeClaim,
    Lead,
    LeadStep,
    Message,
    Rep,
    Source,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.stats import summary

PHONE = "+14155550142"
FORM = {"name": "Ada Lovelace", "phone": "(415) 555-0142", "email": "ada@example.com", "msg": "Hi"}


@pytest.fixture
async def lead(client: AsyncClient, session: AsyncSession, source: Source) -> Lead:
    """A lead from the form (with an Idempotency-Key), called once and connected, with its
    carrier callbacks and an event still owed to an endpoint."""
    session.add(WebhookEndpoint(url="https://crm.example/h", secret="whsec_x", event_types=[]))
    await session.flush()
    accepted = await client.post(
        "/hooks/forms/landing", json=FORM, headers={"Idempotency-Key": "form-42"}
    )
    assert accepted.status_code == 202, accepted.text
    found = await session.get(Lead, uuid.UUID(accepted.json()["lead_id"]))
    assert found is not None and found.fields["msg"] == "Hi"
    rep = Rep(name="Ann", phone="+14155550101")
    session.add(rep)
    await session.flush()
    start = found.received_at
    attempt = Attempt(
        lead_id=found.id,
        rep_id=rep.id,
        ring_group=uuid.uuid4(),
        routing="longest_idle",
        status="ended",
        outcome="connected",
        rep_call_sid="CA" + "1" * 32,
        lead_call_sid="CA" + "2" * 32,
        webhook_received_at=start,
        create_sent_at=start + timedelta(seconds=2),
        rep_answered_at=start + timedelta(seconds=5),
        rep_accepted_at=start + timedelta(seconds=7),
        lead_answered_at=start + timedelta(seconds=10),
        ended_at=start + timedelta(seconds=70),
        ring_seconds=3,
        talk_seconds=60,
        total_seconds=68,
        created_at=start + timedelta(seconds=1),
    )
    session.add(attempt)
    await session.flush()
    for sid, leg, to in (
        (attempt.rep_call_sid, "rep", rep.phone),
        (attempt.lead_call_sid, "lead", PHONE),
    ):
        payload = {
            "CallSid": sid,
            "CallStatus": "completed",
            "CallDuration": "60",
            "From": "+14155550100",
            "To": to,
            "Called": to,
            "ToCity": "SAN FRANCISCO",
        }
        session.add(
            CallEvent(
                call_sid=sid,
                call_status="completed",
                attempt_id=attempt.id,
                leg=leg,
                payload=payload,
            )
        )
    found.status, found.dial_due_at = "connected", None
    await session.flush()
    await summary.rebuild(session)
    await session.refresh(found)
    return found


async def stats(client: AsyncClient, api_key: dict[str, str], lead: Lead) -> list[dict[str, Any]]:
    window = {
        "from": (lead.received_at - timedelta(hours=1)).isoformat(),
        "to": (lead.received_at + timedelta(hours=1)).isoformat(),
    }
    speed = await client.get("/v1/stats/speed-to-lead", params=window, headers=api_key)
    reps = await client.get("/v1/stats/reps", params=window, headers=api_key)
    assert speed.status_code == reps.status_code == 200, (speed.text, reps.text)
    return [speed.json(), reps.json()]


async def test_erasing_a_lead_removes_its_personal_data_and_keeps_the_statistics(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str], lead: Lead
) -> None:
    before = await stats(client, api_key, lead)
    assert before[0]["leads"] == 1
    erased = await client.delete(f"/v1/leads/{lead.id}", headers=api_key)
    assert erased.status_code == 200, erased.text
    body = erased.json()
    assert body["status"] == "erased" and body["erased_at"] and body["fields_purged_at"]
    assert body["phone"].startswith("erased:") and PHONE not in body["phone"]
    assert (body["phone_raw"], body["fields"]) == ("", {})
    assert body["first_name"] is body["last_name"] is body["full_name"] is body["email"] is None
    row = await session.get(Lead, lead.id, populate_existing=True)
    assert row is not None and row.idempotency_key is None and row.dial_due_at is None
    # The summary the stats read stays, and so do the figures.
    assert (row.touches, row.first_call_at, row.connected_at) == (
        1,
        lead.first_call_at,
        lead.connected_at,
    )
    assert await stats(client, api_key, lead) == before
    attempt = await session.scalar(select(Attempt).where(Attempt.lead_id == lead.id))
    assert attempt is not None and (attempt.outcome, attempt.talk_seconds) == ("connected", 60)


async def test_events_call_events_and_claims_forget_the_lead(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str], lead: Lead
) -> None:
    await client.delete(f"/v1/leads/{lead.id}", headers=api_key)
    events = list(
        await session.scalars(
            select(Event).where(Event.lead_id == lead.id).order_by(Event.created_at)
        )
    )
    assert [e.type for e in events] == ["lead.received", "lead.erased"]
    assert all(e.data == {"lead_id": str(lead.id), "erased": True} for e in events)
    deliveries = dict(
        (await session.execute(select(WebhookDelivery.event_id, WebhookDelivery.status))).all()
    )
    # What was owed before is canceled; the news of the erasure goes out.
    assert deliveries == {events[0].id: "canceled", events[1].id: "pending"}
    payloads = list(await session.scalars(select(CallEvent.payload)))
    assert len(payloads) == 2
    for payload in payloads:
        assert set(payload) == {"CallSid", "CallStatus", "CallDuration"}
    everything = " ".join(str(p) for p in payloads) + " ".join(str(e.data) for e in events)
    assert "555" not in everything and "Ada" not in everything
    claims = await session.scalar(select(func.count()).select_from(IntakeClaim))
    assert claims == 0
    # The same form again is a new lead, not a duplicate of the erased one.
    again = await client.post(
        "/hooks/forms/landing", json=FORM, headers={"Idempotency-Key": "form-42"}
    )
    assert again.json()["duplicate"] is False and again.json()["lead_id"] != str(lead.id)


async def test_an_erased_lead_is_never_dialed_again(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str], source: Source
) -> None:
    accepted = await client.post(
        "/v1/leads", json={"source": "landing", "phone": PHONE}, headers=api_key
    )
    lead_id = uuid.UUID(accepted.json()["lead_id"])
    session.add(Rep(name="Ann", phone="+14155550101"))
    await client.delete(f"/v1/leads/{lead_id}", headers=api_key)
    round_ = await start_round(session, lead_id=lead_id)
    assert round_.result == "not_due" and round_.calls == []
    assert await session.scalar(select(func.count()).select_from(Attempt)) == 0


async def test_a_second_erasure_answers_the_same(
    client: AsyncClient, api_key: dict[str, str], lead: Lead
) -> None:
    first = await client.delete(f"/v1/leads/{lead.id}", headers=api_key)
    second = await client.delete(f"/v1/leads/{lead.id}", headers=api_key)
    assert second.status_code == 200 and second.json() == first.json()
    fetched = await client.get(f"/v1/leads/{lead.id}", headers=api_key)
    assert fetched.json() == first.json()
    listed = await client.get("/v1/leads?status=erased", headers=api_key)
    assert [item["id"] for item in listed.json()["data"]] == [str(lead.id)]


async def test_erasure_refusals(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str], lead: Lead
) -> None:
    from app.apikeys.service import Scope, create_api_key

    missing = await client.delete(f"/v1/leads/{uuid.UUID(int=0)}", headers=api_key)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    _, reader = await create_api_key(session, name="reader", scopes=[Scope.read])
    read_only = await client.delete(
        f"/v1/leads/{lead.id}", headers={"Authorization": f"Bearer {reader}"}
    )
    assert read_only.status_code == 403
    assert (await client.delete(f"/v1/leads/{lead.id}")).status_code == 401
    lead.live_ring_group = uuid.uuid4()  # being called right now
    await session.flush()
    busy = await client.delete(f"/v1/leads/{lead.id}", headers=api_key)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "lead_in_call"
    row = await session.get(Lead, lead.id, populate_existing=True)
    assert row is not None and row.phone == PHONE and row.erased_at is None
    _, writer = await create_api_key(session, name="writer", scopes=[Scope.write])
    lead.live_ring_group = None
    await session.flush()
    done = await client.delete(
        f"/v1/leads/{lead.id}", headers={"Authorization": f"Bearer {writer}"}
    )
    assert done.status_code == 200 and done.json()["status"] == "erased"


def test_the_erased_placeholder_fits_the_phone_column() -> None:
    from app.leads.privacy import ERASED_PHONE_PREFIX

    assert len(ERASED_PHONE_PREFIX) + 12 <= Lead.__table__.c.phone.type.length


async def test_erasure_ends_the_follow_up_and_scrubs_its_messages(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str], lead: Lead
) -> None:
    step = LeadStep(lead_id=lead.id, channel="sms", due_at=lead.received_at + timedelta(minutes=1))
    sent = Message(
        lead_id=lead.id,
        channel="sms",
        direction="out",
        to_addr=PHONE,
        from_addr="+14155550100",
        body="Hi Ada, this is Ann",
        status="delivered",
    )
    reply = Message(
        lead_id=lead.id,
        channel="sms",
        direction="in",
        to_addr="+14155550100",
        from_addr=PHONE,
        body="Call me at 5, Ada",
        status="received",
    )
    session.add_all([step, sent, reply])
    await session.flush()
    erased = await client.delete(f"/v1/leads/{lead.id}", headers=api_key)
    assert erased.status_code == 200, erased.text
    await session.refresh(step)
    assert step.status == "canceled"
    rows = list(await session.scalars(select(Message).where(Message.lead_id == lead.id)))
    assert {(m.to_addr, m.from_addr, m.body) for m in rows} == {
        ("(erased)", "+14155550100", ""),
        ("+14155550100", "(erased)", ""),
    }
