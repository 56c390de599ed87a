"""GET /v1/leads/{id}/timeline: every touch of one lead, in time order, and nothing else."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.apikeys.service import Scope, create_api_key
from app.models import Attempt, Event, Lead, LeadStep, Message, Rep, Source

ARRIVED = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return ARRIVED + timedelta(seconds=seconds)


def new_lead(source: Source, phone: str = "+14155550142") -> Lead:
    return Lead(
        source_id=source.id,
        phone=phone,
        phone_raw=phone,
        status="unreached",
        received_at=ARRIVED,
        created_at=ARRIVED,
    )


def attempt(lead: Lead, rep: Rep | None, start: float, **fields: Any) -> Attempt:
    return Attempt(
        lead_id=lead.id,
        rep_id=rep.id if rep else None,
        ring_group=uuid.uuid4(),
        routing="longest_idle",
        status="ended",
        webhook_received_at=ARRIVED,
        created_at=at(start - 1),
        ended_at=at(start + 60),
        **fields,
    )


def message(lead: Lead, when: float, **fields: Any) -> Message:
    values: dict[str, Any] = {"channel": "sms", "direction": "out", "to_addr": lead.phone}
    values |= {"from_addr": "+14155550100", "status": "delivered", "created_at": at(when)}
    return Message(lead_id=lead.id, **(values | fields))


def lead_step(lead: Lead, when: float, status: str, result: str | None, **fields: Any) -> LeadStep:
    values: dict[str, Any] = {"kind": "step", "channel": "sms", "due_at": at(when)}
    values["created_at"] = at(0)
    values |= {"status": status, "result": result, "fired_at": at(when), "updated_at": at(when)}
    return LeadStep(lead_id=lead.id, **(values | fields))


@pytest.fixture
async def story(session: AsyncSession, source: Source) -> Lead:
    """A lead called twice, texted, emailed, with a skipped and a canceled touch, who replied,
    opted out, and whose rep keyed a disposition; plus another lead's rows that must not show."""
    lead, other = new_lead(source), new_lead(source, "+14155550143")
    rep = Rep(name="Ann", phone="+14155550101")
    session.add_all([lead, other, rep])
    await session.flush()
    session.add_all(
        [
            attempt(lead, rep, 2, create_sent_at=at(2), outcome="rep_no_answer", ring_seconds=20),
            attempt(
                lead,
                rep,
                900,
                create_sent_at=at(900),
                outcome="connected",
                answered_by="human",
                talk_seconds=95,
                disposition="call_back",
            ),
            attempt(other, rep, 5, create_sent_at=at(5), outcome="connected"),
            message(lead, 60, body="Hi Ada, Ann at Acme tried to call you."),
            message(lead, 120, direction="in", status="received", body="Call me at 5"),
            message(
                lead,
                1800,
                channel="email",
                to_addr="ada@example.com",
                from_addr="leads@acme.example",
                subject="Your request with Acme",
                body="Hi Ada",
                status="failed",
                error="550 mailbox unavailable",
            ),
            message(other, 70, body="not this lead's"),
            lead_step(lead, 600, "skipped", "the source does not allow SMS"),
            lead_step(lead, 2000, "canceled", "opted out: STOP", channel="call"),
            lead_step(lead, 300, "done", "SMS queued"),  # happened: the message shows it
            lead_step(lead, 9000, "pending", None, fired_at=None),
            lead_step(other, 600, "skipped", "not this lead's"),
        ]
    )
    session.add_all(
        [
            Event(
                type="lead.disposition",
                lead_id=lead.id,
                data={"disposition": "call_back", "attempt_id": "a1", "phone": "+1415"},
                created_at=at(1000),
            ),
            Event(
                type="lead.opted_out",
                lead_id=lead.id,
                data={"reason": "STOP", "phone": "+14155550142"},
                created_at=at(2000),
            ),
            Event(type="attempt.completed", lead_id=lead.id, data={}, created_at=at(950)),
            Event(type="lead.opted_out", lead_id=other.id, data={}, created_at=at(2000)),
        ]
    )
    await session.flush()
    return lead


async def test_every_touch_in_time_order(
    client: AsyncClient, api_key: dict[str, str], story: Lead
) -> None:
    got = await client.get(f"/v1/leads/{story.id}/timeline", headers=api_key)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["lead_id"] == str(story.id) and body["truncated"] is False
    rows = [(i["type"], i["channel"], i["direction"]) for i in body["items"]]
    assert rows == [
        ("received", None, None),
        ("call", "call", "out"),
        ("message", "sms", "out"),
        ("message", "sms", "in"),
        ("step_skipped", "sms", None),
        ("call", "call", "out"),
        ("disposition", None, None),
        ("message", "email", "out"),
        ("opted_out", None, None),
        ("step_canceled", "call", None),
    ]
    items = body["items"]
    assert [datetime.fromisoformat(i["at"]) for i in items] == [
        at(s) for s in (0, 2, 60, 120, 600, 900, 1000, 1800, 2000, 2000)
    ]
    assert items[0]["details"] == {"source": "landing", "source_name": "Landing page"}
    call = items[5]["details"]
    assert (call["rep_name"], call["outcome"], call["answered_by"]) == ("Ann", "connected", "human")
    assert (call["talk_seconds"], call["disposition"]) == (95, "call_back")
    assert items[5]["summary"] == "Call through Ann: connected, talked 95 s, disposition call_back"
    assert items[3]["details"]["body"] == "Call me at 5"
    assert items[3]["summary"] == "SMS received: Call me at 5"
    email = items[7]["details"]
    assert (email["status"], email["error"], email["to"]) == (
        "failed",
        "550 mailbox unavailable",
        "ada@example.com",
    )
    assert items[4]["details"]["result"] == "the source does not allow SMS"
    assert "does not allow SMS" in items[4]["summary"]
    assert items[6]["details"] == {"disposition": "call_back", "attempt_id": "a1", "rep_id": None}
    assert items[8]["details"] == {"reason": "STOP"}  # not the lead's data again


async def test_status_changes_show_with_the_touches_they_canceled(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str], source: Source
) -> None:
    lead = new_lead(source)
    lead.received_at = datetime.now(UTC) - timedelta(hours=1)  # before this transaction began
    session.add(lead)
    await session.flush()
    session.add(lead_step(lead, 0, "pending", None, fired_at=None, due_at=datetime.now(UTC)))
    await session.flush()
    patched = await client.patch(f"/v1/leads/{lead.id}", json={"status": "lost"}, headers=api_key)
    assert patched.status_code == 200, patched.text
    items = (await client.get(f"/v1/leads/{lead.id}/timeline", headers=api_key)).json()["items"]
    assert [i["type"] for i in items] == ["received", "status_changed", "step_canceled"]
    assert items[1]["details"] == {"status": "lost", "previous_status": "unreached"}
    assert items[1]["summary"] == "Status set to lost"
    assert items[2]["details"]["result"] == "lead lost"


async def test_only_the_most_recent_items_when_asked_for_fewer(
    client: AsyncClient, api_key: dict[str, str], story: Lead
) -> None:
    got = await client.get(f"/v1/leads/{story.id}/timeline?limit=3", headers=api_key)
    body = got.json()
    assert body["truncated"] is True
    assert [i["type"] for i in body["items"]] == ["message", "opted_out", "step_canceled"]
    for bad in ("0", "501", "x"):
        refused = await client.get(f"/v1/leads/{story.id}/timeline?limit={bad}", headers=api_key)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "limit"


async def test_unknown_lead_and_keys(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str], story: Lead
) -> None:
    missing = await client.get(f"/v1/leads/{uuid.uuid4()}/timeline", headers=api_key)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "lead_id"
    assert (await client.get(f"/v1/leads/{story.id}/timeline")).status_code == 401
    _, reader = await create_api_key(session, name="dashboard", scopes=[Scope.read])
    read = {"Authorization": f"Bearer {reader}"}
    assert (await client.get(f"/v1/leads/{story.id}/timeline", headers=read)).status_code == 200
