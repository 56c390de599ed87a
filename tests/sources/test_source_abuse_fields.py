"""The abuse protection fields of a source: defaults, normalisation, refusals naming the field."""

from typing import Any

import pytest
from httpx import AsyncClient

BASE = {"slug": "web", "name": "Web form", "default_region": "us"}


async def create(client: AsyncClient, api_key: dict[str, str], **fields: Any) -> Any:
    return await client.post("/v1/sources", json={**BASE, **fields}, headers=api_key)


async def test_defaults_call_the_source_country_only_and_allow_no_browser_origin(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    body = (await create(client, api_key)).json()
    assert body["allowed_countries"] == []
    assert body["cors_origins"] == [] and body["honeypot_field"] is None
    assert body["previous_secret_expires_at"] is None


async def test_fields_are_stored_normalised_and_patchable(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    created = await create(
        client,
        api_key,
        allowed_countries=["us", "ca", "US"],
        cors_origins=["HTTPS://WWW.Example.com:443/", "http://localhost:3000"],
        honeypot_field="website",
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["allowed_countries"] == ["US", "CA"]
    assert body["cors_origins"] == ["https://www.example.com", "http://localhost:3000"]
    assert body["honeypot_field"] == "website"
    patched = await client.patch(
        "/v1/sources/web",
        json={"allowed_countries": None, "cors_origins": None, "honeypot_field": None},
        headers=api_key,
    )
    body = patched.json()
    assert body["allowed_countries"] is None  # any country
    assert body["cors_origins"] == [] and body["honeypot_field"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"allowed_countries": ["XX"]}, "allowed_countries"),
        ({"allowed_countries": ["USA"]}, "allowed_countries.0"),
        ({"cors_origins": ["https://www.example.com/form"]}, "cors_origins"),
        ({"cors_origins": ["www.example.com"]}, "cors_origins"),
        ({"cors_origins": ["ftp://example.com"]}, "cors_origins"),
        ({"cors_origins": ["https://user@example.com"]}, "cors_origins"),
        ({"honeypot_field": "phone"}, "honeypot_field"),
        ({"honeypot_field": "Mobile", "field_map": {"phone": "Mobile"}}, "honeypot_field"),
        ({"honeypot_field": ""}, "honeypot_field"),
    ],
)
async def test_bad_values_are_422_naming_the_field(
    client: AsyncClient, api_key: dict[str, str], change: dict[str, Any], field: str
) -> None:
    response = await create(client, api_key, **change)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_patch_checks_the_honeypot_against_the_stored_field_map(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    await create(client, api_key, field_map={"phone": "Best number"})
    response = await client.patch(
        "/v1/sources/web", json={"honeypot_field": "Best number"}, headers=api_key
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "honeypot_field"


@pytest.mark.parametrize("grace", [-1, 7 * 24 * 3600 + 1])
async def test_grace_period_out_of_range_is_422(
    client: AsyncClient, api_key: dict[str, str], grace: int
) -> None:
    await create(client, api_key, secret="a-long-enough-secret")
    response = await client.patch(
        "/v1/sources/web", json={"secret_grace_seconds": grace}, headers=api_key
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "secret_grace_seconds"
