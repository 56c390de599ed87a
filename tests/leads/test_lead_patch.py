"""PATCH /v1/leads/{id}: closing a lead stops its follow-up; switching its cadence re-plans it."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.apikeys.service import Scope, create_api_key
from app.models import CadenceStep, Event, Lead, LeadStep, Source

DEFAULT_CADENCE = uuid.UUID("00000000-0000-4000-8000-00000000cade")


@pytest.fixture
async def lead(session: AsyncSession, source: Source) -> Lead:
    """A lead whose first call is done, waiting for the default cadence's SMS at minute 1."""
    arrived = datetime.now(UTC) - timedelta(seconds=30)
    found = Lead(
        source_id=source.id,
        phone="+14155550142",
        phone_raw="4155550142",
        first_name="Ada",
        status="unreached",
        received_at=arrived,
        cadence_id=DEFAULT_CADENCE,
        cadence_state="active",
        cadence_offset=0,
    )
    session.add(found)
    await session.flush()
    sms_step = await session.scalar(
        select(CadenceStep.id).where(
            CadenceStep.cadence_id == DEFAULT_CADENCE, CadenceStep.delay_minutes == 1
        )
    )
    session.add(
        LeadStep(
            lead_id=found.id,
            cadence_id=DEFAULT_CADENCE,
            step_id=sms_step,
            kind="step",
            channel="sms",
            delay_minutes=1,
            due_at=arrived + timedelta(minutes=1),
            created_at=arrived,
        )
    )
    await session.flush()
    return found


async def steps_of(session: AsyncSession, lead: Lead) -> list[LeadStep]:
    query = select(LeadStep).where(LeadStep.lead_id == lead.id).order_by(LeadStep.created_at)
    return list(await session.scalars(query.execution_options(populate_existing=True)))


async def test_closing_a_lead_stops_its_cadence_and_is_recorded(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str], lead: Lead
) -> None:
    patched = await client.patch(
        f"/v1/leads/{lead.id}", json={"status": "converted"}, headers=api_key
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["status"], body["cadence_state"]) == ("converted", "stopped")
    assert body["cadence_stop_reason"] == "lead converted"
    assert body["cadence_id"] == str(DEFAULT_CADENCE)
    [step] = await steps_of(session, lead)
    assert (step.status, step.result) == ("canceled", "lead converted")
    again = await client.patch(
        f"/v1/leads/{lead.id}", json={"status": "converted"}, headers=api_key
    )
    assert again.status_code == 200
    events = list(await session.scalars(select(Event).where(Event.lead_id == lead.id)))
    assert [(e.type, e.data["status"], e.data["previous_status"]) for e in events] == [
        ("lead.status_changed", "converted", "unreached")
    ]
    fetched = await client.get(f"/v1/leads/{lead.id}", headers=api_key)
    assert fetched.json() == body
    listed = await client.get("/v1/leads", params={"status": "converted"}, headers=api_key)
    assert [item["id"] for item in listed.json()["data"]] == [str(lead.id)]


async def test_switching_cadence_replaces_the_waiting_touch(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str], lead: Lead
) -> None:
    created = await client.post(
        "/v1/cadences",
        json={
            "name": "Email only",
            "steps": [
                {"delay_minutes": 0, "channel": "call"},
                {
                    "delay_minutes": 10,
                    "channel": "email",
                    "template": "Hi {first_name}",
                    "subject": "Your request",
                },
            ],
        },
        headers=api_key,
    )
    other = created.json()
    patched = await client.patch(
        f"/v1/leads/{lead.id}", json={"cadence_id": other["id"]}, headers=api_key
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["cadence_id"] == other["id"]
    assert patched.json()["status"] == "unreached"
    old, new = await steps_of(session, lead)
    assert (old.status, old.result) == ("canceled", f"switched to cadence {other['id']}")
    assert (new.status, new.cadence_id, new.channel) == ("pending", uuid.UUID(other["id"]), "email")
    assert new.step_id == uuid.UUID(other["steps"][1]["id"])
    assert new.due_at == lead.received_at + timedelta(minutes=10)


async def test_a_closed_lead_switches_cadence_without_being_touched_again(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str], lead: Lead
) -> None:
    patched = await client.patch(f"/v1/leads/{lead.id}", json={"status": "lost"}, headers=api_key)
    assert patched.json()["status"] == "lost"
    other = await client.post(
        "/v1/cadences",
        json={"name": "Calls", "steps": [{"delay_minutes": 0, "channel": "call"}]},
        headers=api_key,
    )
    switched = await client.patch(
        f"/v1/leads/{lead.id}", json={"cadence_id": other.json()["id"]}, headers=api_key
    )
    assert switched.status_code == 200 and switched.json()["cadence_state"] == "stopped"
    assert [step.status for step in await steps_of(session, lead)] == ["canceled"]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"status": "dialing"}, 422, "status"),
        ({"status": "won"}, 422, "status"),
        ({"cadence_id": str(uuid.uuid4())}, 422, "cadence_id"),
        ({"cadence_id": "default"}, 422, "cadence_id"),
    ],
)
async def test_refusals_name_the_field(
    client: AsyncClient,
    api_key: dict[str, str],
    lead: Lead,
    change: dict[str, str],
    status: int,
    field: str,
) -> None:
    refused = await client.patch(f"/v1/leads/{lead.id}", json=change, headers=api_key)
    assert refused.status_code == status, refused.text
    assert refused.json()["error"]["field"] == field


async def test_unknown_erased_and_unauthorised(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str], lead: Lead
) -> None:
    missing = await client.patch(
        f"/v1/leads/{uuid.uuid4()}", json={"status": "closed"}, headers=api_key
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    _, reader = await create_api_key(session, name="dashboard", scopes=[Scope.read])
    read = {"Authorization": f"Bearer {reader}"}
    closed = {"status": "closed"}
    assert (
        await client.patch(f"/v1/leads/{lead.id}", json=closed, headers=read)
    ).status_code == 403
    assert (await client.patch(f"/v1/leads/{lead.id}", json=closed)).status_code == 401
    assert (await client.delete(f"/v1/leads/{lead.id}", headers=api_key)).status_code == 200
    erased = await client.patch(f"/v1/leads/{lead.id}", json=closed, headers=api_key)
    assert erased.status_code == 409 and erased.json()["error"]["field"] == "lead_id"
