"""/v1/teams: routing, and the working hours cadence calls wait for."""

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.apikeys.service import Scope, create_api_key


async def test_a_team_works_around_the_clock_until_told_otherwise(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    put = await client.put("/v1/teams/closers", json={}, headers=api_key)
    assert put.status_code == 200, put.text
    body = put.json()
    assert (body["timezone"], body["shift_start"], body["shift_end"]) == ("UTC", None, None)
    assert body["shift_days"] == [1, 2, 3, 4, 5, 6, 7]


async def test_shift_is_stored_and_replaced_by_the_next_put(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    shift = {
        "timezone": "America/New_York",
        "shift_start": "09:00",
        "shift_end": "17:30",
        "shift_days": [5, 1, 3],
    }
    put = await client.put("/v1/teams/closers", json=shift, headers=api_key)
    assert put.status_code == 200, put.text
    body = put.json()
    assert (body["timezone"], body["shift_start"], body["shift_end"]) == (
        "America/New_York",
        "09:00",
        "17:30",
    )
    assert body["shift_days"] == [1, 3, 5]
    listed = (await client.get("/v1/teams", headers=api_key)).json()["data"]
    assert listed == [body]
    again = await client.put("/v1/teams/closers", json={"routing": "round_robin"}, headers=api_key)
    assert again.json()["shift_start"] is None and again.json()["timezone"] == "UTC"


async def test_shifts_may_run_overnight_or_around_the_clock(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    for start, end in (("22:00", "06:00"), ("07:00", "07:00"), ("00:00", "24:00")):
        shift = {"shift_start": start, "shift_end": end}
        put = await client.put("/v1/teams/nights", json=shift, headers=api_key)
        assert put.status_code == 200, put.text
        assert (put.json()["shift_start"], put.json()["shift_end"]) == (start, end)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"shift_start": "09:00"}, "shift_end"),
        ({"shift_end": "17:00"}, "shift_start"),
        ({"shift_start": "9:00", "shift_end": "17:00"}, "shift_start"),
        ({"shift_start": "09:00", "shift_end": "24:01"}, "shift_end"),
        ({"shift_start": "24:00", "shift_end": "09:00"}, "shift_start"),
        ({"shift_days": []}, "shift_days"),
        ({"shift_days": [0]}, "shift_days.0"),
        ({"shift_days": [1, 8]}, "shift_days.1"),
        ({"shift_days": [1, 1]}, "shift_days"),
    ],
)
async def test_invalid_hours_are_refused_naming_the_field(
    client: AsyncClient, api_key: dict[str, str], change: dict[str, Any], field: str
) -> None:
    refused = await client.put("/v1/teams/closers", json=change, headers=api_key)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == field
    assert (await client.get("/v1/teams", headers=api_key)).json()["data"] == []


async def test_a_read_key_cannot_change_a_team(
    client: AsyncClient, session: AsyncSession, api_key: dict[str, str]
) -> None:
    _, reader = await create_api_key(session, name="dashboard", scopes=[Scope.read])
    read = {"Authorization": f"Bearer {reader}"}
    assert (await client.put("/v1/teams/closers", json={}, headers=read)).status_code == 403
    assert (await client.get("/v1/teams", headers=read)).status_code == 200
    assert (await client.put("/v1/teams/closers", json={})).status_code == 401
