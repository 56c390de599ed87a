"""The follow-up fields of a source: cadence, sender identities, calling window, after hours."""

from typing import Any

import pytest
from httpx import AsyncClient

BASE = {"slug": "web", "name": "Web form", "default_region": "us"}
DEFAULT_CADENCE = "00000000-0000-4000-8000-00000000cade"


async def create(client: AsyncClient, api_key: dict[str, str], **fields: Any) -> Any:
    return await client.post("/v1/sources", json={**BASE, **fields}, headers=api_key)


async def test_defaults_follow_the_default_cadence_and_wait_for_calling_hours(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    body = (await create(client, api_key)).json()
    assert body["cadence_id"] is None and body["company"] is None
    assert body["sms_allowed"] is True and body["after_hours_policy"] == "wait"
    assert body["sms_from"] is None and body["email_from"] is None
    assert body["calling_window_start"] is None and body["calling_window_end"] is None


async def test_fields_are_stored_normalised_and_patchable(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    created = await create(
        client,
        api_key,
        cadence_id=DEFAULT_CADENCE,
        company="Acme Roofing",
        sms_allowed=False,
        sms_from="(415) 555-0100",
        email_from="Acme <leads@acme.example>",
        calling_window_start="09:00",
        calling_window_end="20:30",
        after_hours_policy="call_now",
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["cadence_id"], body["company"], body["sms_allowed"]) == (
        DEFAULT_CADENCE,
        "Acme Roofing",
        False,
    )
    assert body["sms_from"] == "+14155550100"
    assert body["email_from"] == "Acme <leads@acme.example>"
    assert (body["calling_window_start"], body["calling_window_end"]) == ("09:00", "20:30")
    assert body["after_hours_policy"] == "call_now"
    patched = await client.patch(
        "/v1/sources/web",
        json={
            "cadence_id": None,
            "sms_from": None,
            "calling_window_start": None,
            "calling_window_end": None,
            "sms_allowed": None,  # null for a field that cannot be empty: unchanged
        },
        headers=api_key,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["cadence_id"] is None and body["sms_from"] is None
    assert body["calling_window_start"] is None and body["sms_allowed"] is False
    assert body["company"] == "Acme Roofing"
    one_end = await client.patch(
        "/v1/sources/web", json={"calling_window_end": "18:00"}, headers=api_key
    )
    assert one_end.status_code == 422
    assert one_end.json()["error"]["field"] == "calling_window_start"
    moved = await client.patch(
        "/v1/sources/web",
        json={"calling_window_start": "08:00", "calling_window_end": "24:00"},
        headers=api_key,
    )
    assert moved.json()["calling_window_end"] == "24:00"
    shortened = await client.patch(
        "/v1/sources/web", json={"calling_window_end": "07:00"}, headers=api_key
    )
    assert shortened.status_code == 422
    assert shortened.json()["error"]["field"] == "calling_window_end"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cadence_id": "00000000-0000-4000-8000-000000000000"}, "cadence_id"),
        ({"cadence_id": "nope"}, "cadence_id"),
        ({"calling_window_start": "09:00"}, "calling_window_end"),
        ({"calling_window_end": "17:00"}, "calling_window_start"),
        ({"calling_window_start": "25:00", "calling_window_end": "26:00"}, "calling_window_start"),
        ({"calling_window_start": "9h", "calling_window_end": "17:00"}, "calling_window_start"),
        ({"calling_window_start": "17:00", "calling_window_end": "09:00"}, "calling_window_end"),
        ({"calling_window_start": "24:00", "calling_window_end": "24:00"}, "calling_window_start"),
        ({"calling_window_start": "09:00", "calling_window_end": "09:00"}, "calling_window_end"),
        ({"after_hours_policy": "later"}, "after_hours_policy"),
        ({"sms_from": "123"}, "sms_from"),
        ({"email_from": "leads"}, "email_from"),
        ({"email_from": "Acme <leads@acme.example>\r\nBcc: x@y.example"}, "email_from"),
        ({"company": ""}, "company"),
    ],
)
async def test_invalid_follow_up_fields_are_refused_naming_the_field(
    client: AsyncClient, api_key: dict[str, str], change: dict[str, Any], field: str
) -> None:
    refused = await create(client, api_key, **change)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == field
    assert (await client.get("/v1/sources/web", headers=api_key)).status_code == 404
    await create(client, api_key)
    patched = await client.patch("/v1/sources/web", json=change, headers=api_key)
    assert patched.status_code == 422 and patched.json()["error"]["field"] == field
