from httpx import AsyncClient


async def test_rep_lifecycle_and_availability(client: AsyncClient, api_key: dict[str, str]) -> None:
    created = await client.post(
        "/v1/reps", json={"name": "Dana", "phone": "(415) 555-0101"}, headers=api_key
    )
    assert created.status_code == 201, created.text
    rep = created.json()
    assert rep["phone"] == "+14155550101" and rep["availability"] == "available"
    away = await client.patch(
        f"/v1/reps/{rep['id']}",
        json={"availability": "away", "availability_reason": "lunch"},
        headers=api_key,
    )
    assert away.json()["availability"] == "away"
    assert away.json()["availability_reason"] == "lunch"
    assert away.json()["availability_changed_at"] > rep["availability_changed_at"]
    only_away = await client.get("/v1/reps?availability=away", headers=api_key)
    assert [r["id"] for r in only_away.json()["data"]] == [rep["id"]]
    none_available = await client.get("/v1/reps?availability=available", headers=api_key)
    assert none_available.json()["data"] == []
    assert (await client.delete(f"/v1/reps/{rep['id']}", headers=api_key)).status_code == 204
    assert (await client.get(f"/v1/reps/{rep['id']}", headers=api_key)).status_code == 404


async def test_rep_errors(client: AsyncClient, api_key: dict[str, str]) -> None:
    bad_phone = await client.post("/v1/reps", json={"name": "X", "phone": "123"}, headers=api_key)
    assert bad_phone.status_code == 422 and bad_phone.json()["error"]["field"] == "phone"
    bad_state = await client.post(
        "/v1/reps",
        json={"name": "X", "phone": "4155550101", "availability": "asleep"},
        headers=api_key,
    )
    assert bad_state.status_code == 422 and bad_state.json()["error"]["field"] == "availability"
    await client.post("/v1/reps", json={"name": "A", "phone": "4155550101"}, headers=api_key)
    taken = await client.post(
        "/v1/reps", json={"name": "B", "phone": "+14155550101"}, headers=api_key
    )
    assert taken.status_code == 409
    listed = await client.get("/v1/reps", headers=api_key)
    assert [r["name"] for r in listed.json()["data"]] == ["A"]
    missing = await client.get("/v1/reps/00000000-0000-0000-0000-000000000000", headers=api_key)
    assert missing.status_code == 404
    not_uuid = await client.get("/v1/reps/abc", headers=api_key)
    assert not_uuid.status_code == 422 and not_uuid.json()["error"]["field"] == "rep_id"
