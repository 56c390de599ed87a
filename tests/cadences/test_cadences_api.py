"""/v1/cadences: the follow-up plans, their validation, the default flag, and edits that keep
the leads following them on track."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.apikeys.service import Scope, create_api_key
from app.models import Cadence, Lead, LeadStep, Source

DEFAULT_ID = "00000000-0000-4000-8000-00000000cade"
SMS = "Hi {first_name}, {rep_name} at {company} tried to call you."
EMAIL = {"channel": "email", "template": "Hi {full_name}", "subject": "From {company}"}
CALL = {"delay_minutes": 15, "channel": "call"}


def cadence(**fields: Any) -> dict[str, Any]:
    steps = [
        {"delay_minutes": 60, "channel": "call", "only_if_unreached": True},
        {"delay_minutes": 0, "channel": "call"},
        {"delay_minutes": 5, "channel": "sms", "template": SMS},
        {"delay_minutes": 61, "channel": "sms", "template": SMS},
    ]
    return {"name": "Fast", "steps": steps, **fields}


async def create(client: AsyncClient, api_key: dict[str, str], **fields: Any) -> Any:
    created = await client.post("/v1/cadences", json=cadence(**fields), headers=api_key)
    assert created.status_code == 201, created.text
    return created.json()


async def test_the_seeded_default_cadence_is_listed_first(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    await create(client, api_key, name="Aardvark")
    listed = (await client.get("/v1/cadences", headers=api_key)).json()["data"]
    assert [c["id"] for c in listed][0] == DEFAULT_ID
    default = listed[0]
    assert default["is_default"] and default["version"] == 1
    delays = [step["delay_minutes"] for step in default["steps"]]
    assert delays == sorted(delays) and len(delays) == 15
    assert [step["channel"] for step in default["steps"][:2]] == ["call", "sms"]


async def test_create_sorts_steps_by_delay_and_assigns_positions(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    body = await create(client, api_key, nurture_every_days=0, description="Quick")
    steps = body["steps"]
    assert [(s["delay_minutes"], s["channel"]) for s in steps] == [
        (0, "call"),
        (5, "sms"),
        (60, "call"),
        (61, "sms"),
    ]
    assert [s["position"] for s in steps] == [0, 1, 2, 3]
    assert steps[2]["only_if_unreached"] and steps[1]["template"] == SMS
    assert (body["is_default"], body["version"], body["nurture_every_days"]) == (False, 1, 0)
    assert body["nurture_max_touches"] == 12 and body["description"] == "Quick"
    fetched = await client.get(f"/v1/cadences/{body['id']}", headers=api_key)
    assert fetched.status_code == 200 and fetched.json() == body


async def test_ids_sent_on_create_are_not_taken(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    """Posting a cadence read from another one makes a copy, with steps of its own."""
    default = (await client.get(f"/v1/cadences/{DEFAULT_ID}", headers=api_key)).json()
    copy = await client.post(
        "/v1/cadences", json={"name": "Copy", "steps": default["steps"]}, headers=api_key
    )
    assert copy.status_code == 201, copy.text
    assert not {s["id"] for s in copy.json()["steps"]} & {s["id"] for s in default["steps"]}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"steps": []}, "steps", "at least 1"),
        ({"steps": [{"delay_minutes": -1, "channel": "call"}]}, "steps.0.delay_minutes", ""),
        ({"steps": [{"delay_minutes": 0, "channel": "fax"}]}, "steps.0.channel", ""),
        ({"steps": [{"delay_minutes": 0, "channel": "sms"}]}, "steps.0.template", "template"),
        (
            {"steps": [{"delay_minutes": 0, "channel": "sms", "template": "Hi {name}"}]},
            "steps.0.template",
            "{name}",
        ),
        (
            {"steps": [{"delay_minutes": 0, "channel": "sms", "template": "Hi {First_Name}"}]},
            "steps.0.template",
            "{First_Name}",
        ),
        (
            {"steps": [{"delay_minutes": 0, "channel": "sms", "template": "x" * 1601}]},
            "steps.0.template",
            "1600",
        ),
        (
            {"steps": [{"delay_minutes": 0, "channel": "sms", "template": "Hi", "subject": "S"}]},
            "steps.0.subject",
            "no subject",
        ),
        (
            {"steps": [{"delay_minutes": 0, "channel": "call", "template": "Hi"}]},
            "steps.0.template",
            "call step",
        ),
        (
            {"steps": [{"delay_minutes": 0, "channel": "email", "template": "Hi"}]},
            "steps.0.subject",
            "subject",
        ),
        (
            {"steps": [{**EMAIL, "delay_minutes": 0, "subject": "For {phone}"}]},
            "steps.0.subject",
            "{phone}",
        ),
        ({"nurture_sms_template": "Hi {email}"}, "nurture_sms_template", "{email}"),
        ({"nurture_email_subject": "Hello"}, "nurture_email_template", "both"),
        ({"nurture_email_template": "Hello"}, "nurture_email_subject", "both"),
        ({"nurture_every_days": -1}, "nurture_every_days", ""),
        ({"name": ""}, "name", ""),
        (
            {"steps": [{"delay_minutes": 5, "channel": "call"}, {**EMAIL, "delay_minutes": 5}]},
            "steps.1.delay_minutes",
            "own minute",
        ),
    ],
)
async def test_invalid_cadences_are_refused_naming_the_field(
    client: AsyncClient, api_key: dict[str, str], change: dict[str, Any], field: str, words: str
) -> None:
    refused = await client.post("/v1/cadences", json=cadence(**change), headers=api_key)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["field"] == field and words in error["message"]


async def test_a_later_step_is_named_by_its_place_in_the_request(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    steps = [
        {"delay_minutes": 90, "channel": "call"},
        {"delay_minutes": 0, "channel": "call"},
        {"delay_minutes": 10, "channel": "sms", "template": "Hi {nickname}"},
    ]
    refused = await client.post("/v1/cadences", json=cadence(steps=steps), headers=api_key)
    error = refused.json()["error"]
    assert error["field"] == "steps.2.template" and error["code"] == "unknown_placeholder"
    assert "{first_name}" in error["message"]  # says what is allowed


async def test_put_keeps_the_ids_of_steps_sent_back_and_deletes_the_others(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    body = await create(client, api_key)
    first, sms, call, _ = body["steps"]
    replaced = await client.put(
        f"/v1/cadences/{body['id']}",
        json={
            "name": "Renamed",
            "steps": [
                {**EMAIL, "delay_minutes": 30},
                {"id": call["id"], "delay_minutes": 2, "channel": "call"},
                {"id": first["id"], "delay_minutes": 0, "channel": "call"},
            ],
            "nurture_sms_template": "Still there, {first_name}?",
        },
        headers=api_key,
    )
    assert replaced.status_code == 200, replaced.text
    after = replaced.json()
    assert (after["name"], after["version"]) == ("Renamed", 2)
    assert after["nurture_sms_template"] == "Still there, {first_name}?"
    steps = after["steps"]
    assert [(s["delay_minutes"], s["channel"]) for s in steps] == [
        (0, "call"),
        (2, "call"),
        (30, "email"),
    ]
    assert steps[0]["id"] == first["id"] and steps[1]["id"] == call["id"]
    assert steps[2]["id"] not in {s["id"] for s in body["steps"]}
    assert sms["id"] not in {s["id"] for s in steps}
    assert [s["position"] for s in steps] == [0, 1, 2]
    fetched = await client.get(f"/v1/cadences/{body['id']}", headers=api_key)
    assert fetched.json() == after


async def test_put_refuses_step_ids_of_other_cadences_and_unknown_cadences(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    body = await create(client, api_key)
    default = (await client.get(f"/v1/cadences/{DEFAULT_ID}", headers=api_key)).json()
    foreign = default["steps"][0]["id"]
    url = f"/v1/cadences/{body['id']}"
    own = body["steps"][0]["id"]
    for steps, field in (
        (
            [{"delay_minutes": 0, "channel": "call"}, {**CALL, "id": foreign, "delay_minutes": 7}],
            "steps.1.id",
        ),
        ([{**CALL, "id": own}, {**CALL, "id": own, "delay_minutes": 7}], "steps.1.id"),
    ):
        refused = await client.put(url, json={"name": "X", "steps": steps}, headers=api_key)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == field
    unchanged = (await client.get(url, headers=api_key)).json()
    assert unchanged == body
    missing = await client.put(f"/v1/cadences/{uuid.uuid4()}", json=cadence(), headers=api_key)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert (await client.get(f"/v1/cadences/{uuid.uuid4()}", headers=api_key)).status_code == 404
    bad_id = await client.get("/v1/cadences/not-a-uuid", headers=api_key)
    assert bad_id.status_code == 422 and bad_id.json()["error"]["field"] == "cadence_id"


async def test_the_default_flag_moves_and_is_never_dropped(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    body = await create(client, api_key, is_default=True)
    listed = (await client.get("/v1/cadences", headers=api_key)).json()["data"]
    assert [c["id"] for c in listed if c["is_default"]] == [body["id"]]
    assert listed[0]["id"] == body["id"]
    url = f"/v1/cadences/{body['id']}"
    unset = await client.put(url, json=cadence(is_default=False), headers=api_key)
    assert unset.status_code == 409 and unset.json()["error"]["field"] == "is_default"
    kept = await client.put(url, json=cadence(), headers=api_key)  # null: left as it is
    assert kept.status_code == 200 and kept.json()["is_default"]
    back = await client.put(
        f"/v1/cadences/{DEFAULT_ID}", json=cadence(is_default=True), headers=api_key
    )
    assert back.status_code == 200 and back.json()["is_default"]
    assert not (await client.get(url, headers=api_key)).json()["is_default"]


async def test_delete_refuses_the_default_and_sources_fall_back(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str]
) -> None:
    body = await create(client, api_key)
    source = await client.post(
        "/v1/sources",
        json={"slug": "ads", "name": "Ads", "cadence_id": body["id"]},
        headers=api_key,
    )
    assert source.json()["cadence_id"] == body["id"]
    default = await client.delete(f"/v1/cadences/{DEFAULT_ID}", headers=api_key)
    assert default.status_code == 409 and default.json()["error"]["field"] == "cadence_id"
    deleted = await client.delete(f"/v1/cadences/{body['id']}", headers=api_key)
    assert deleted.status_code == 204
    assert (await client.get(f"/v1/cadences/{body['id']}", headers=api_key)).status_code == 404
    assert (await client.get("/v1/sources/ads", headers=api_key)).json()["cadence_id"] is None
    again = await client.delete(f"/v1/cadences/{body['id']}", headers=api_key)
    assert again.status_code == 404


async def lead_waiting_for(
    session: AsyncSession, source: Source, cadence_id: uuid.UUID, step_id: uuid.UUID
) -> tuple[Lead, LeadStep, datetime]:
    """A lead whose first call (minute 0) is done, waiting for the step at minute 5."""
    arrived = datetime.now(UTC) - timedelta(minutes=1)
    lead = Lead(
        source_id=source.id,
        phone="+14155550142",
        phone_raw="4155550142",
        status="unreached",
        received_at=arrived,
        cadence_id=cadence_id,
        cadence_state="active",
        cadence_offset=0,
    )
    session.add(lead)
    await session.flush()
    step = LeadStep(
        lead_id=lead.id,
        cadence_id=cadence_id,
        step_id=step_id,
        kind="step",
        channel="sms",
        delay_minutes=5,
        due_at=arrived + timedelta(minutes=5),
        created_at=arrived,
    )
    session.add(step)
    await session.flush()
    return lead, step, arrived


async def test_put_re_plans_the_waiting_touch_of_leads_in_the_same_transaction(
    client: AsyncClient, session: AsyncSession, source: Source, api_key: dict[str, str]
) -> None:
    body = await create(client, api_key)
    cadence_id = uuid.UUID(body["id"])
    first, sms = body["steps"][0], body["steps"][1]
    _, waiting, arrived = await lead_waiting_for(session, source, cadence_id, uuid.UUID(sms["id"]))
    replaced = await client.put(
        f"/v1/cadences/{cadence_id}",
        json={
            "name": "Slower",
            "steps": [
                {"id": first["id"], "delay_minutes": 0, "channel": "call"},
                {"id": sms["id"], "delay_minutes": 20, "channel": "sms", "template": SMS},
            ],
        },
        headers=api_key,
    )
    assert replaced.status_code == 200, replaced.text
    await session.refresh(waiting)
    assert waiting.status == "pending" and waiting.step_id == uuid.UUID(sms["id"])
    assert (waiting.delay_minutes, waiting.due_at) == (20, arrived + timedelta(minutes=20))
    row = await session.scalar(select(Cadence).where(Cadence.id == cadence_id))
    assert row is not None and row.version == 2


async def test_scopes(client: AsyncClient, session: AsyncSession, api_key: dict[str, str]) -> None:
    body = await create(client, api_key)
    _, reader = await create_api_key(session, name="dashboard", scopes=[Scope.read])
    read = {"Authorization": f"Bearer {reader}"}
    assert (await client.get("/v1/cadences", headers=read)).status_code == 200
    assert (await client.get(f"/v1/cadences/{body['id']}", headers=read)).status_code == 200
    url = f"/v1/cadences/{body['id']}"
    for refused in (
        await client.post("/v1/cadences", json=cadence(), headers=read),
        await client.put(url, json=cadence(), headers=read),
        await client.delete(url, headers=read),
    ):
        assert refused.status_code == 403 and refused.json()["error"]["field"] == "scope"
    assert (await client.get("/v1/cadences")).status_code == 401
    _, writer = await create_api_key(session, name="crm", scopes=[Scope.write])
    write = {"Authorization": f"Bearer {writer}"}
    assert (await client.put(url, json=cadence(), headers=write)).status_code == 200
    assert (await client.delete(url, headers=write)).status_code == 204
