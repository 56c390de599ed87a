"""Per-source CORS: listed origins may post from the browser and read the answer."""

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Lead, Source

ADA = {"name": "Ada Lovelace", "phone": "(415) 555-0142"}
SITE = "https://www.example.com"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
}


async def lead_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Lead)) or 0)


@pytest.fixture
async def browser_source(session: AsyncSession, source: Source) -> Source:
    source.cors_origins = [SITE]
    await session.flush()
    return source


async def test_preflight_from_a_listed_origin_is_answered(
    client: AsyncClient, browser_source: Source
) -> None:
    response = await client.options("/hooks/forms/landing", headers={**PREFLIGHT, "Origin": SITE})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert {"content-type", "idempotency-key", "x-firstring-signature"} <= {
        h.strip() for h in allowed.split(",")
    }


@pytest.mark.parametrize("origin", ["https://evil.example", "http://www.example.com", None])
async def test_preflight_from_another_origin_gets_no_cors_headers(
    client: AsyncClient, browser_source: Source, origin: str | None
) -> None:
    headers = PREFLIGHT if origin is None else {**PREFLIGHT, "Origin": origin}
    response = await client.options("/hooks/forms/landing", headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in response.headers


async def test_preflight_to_a_source_listing_no_origins_is_refused(
    client: AsyncClient, source: Source
) -> None:
    response = await client.options("/hooks/forms/landing", headers={**PREFLIGHT, "Origin": SITE})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


async def test_a_post_from_a_listed_origin_can_read_its_answer_and_its_refusals(
    client: AsyncClient, session: AsyncSession, browser_source: Source
) -> None:
    accepted = await client.post("/hooks/forms/landing", json=ADA, headers={"Origin": SITE})
    assert accepted.status_code == 202
    assert accepted.headers["Access-Control-Allow-Origin"] == SITE
    assert accepted.headers["Vary"] == "Origin"
    refused = await client.post(
        "/hooks/forms/landing", json={"phone": "+1 900 555 0100"}, headers={"Origin": SITE}
    )
    assert refused.status_code == 422
    assert refused.headers["Access-Control-Allow-Origin"] == SITE


async def test_a_browser_post_from_another_origin_is_refused_and_stores_nothing(
    client: AsyncClient, session: AsyncSession, browser_source: Source
) -> None:
    response = await client.post(
        "/hooks/forms/landing", data=ADA, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "origin_not_allowed",
        "message": "Origin 'https://evil.example' may not post to this source.",
        "field": "Origin",
    }
    assert "access-control-allow-origin" not in response.headers
    assert await lead_count(session) == 0


async def test_server_to_server_posts_and_unlisted_sources_are_unaffected(
    client: AsyncClient, session: AsyncSession, browser_source: Source
) -> None:
    response = await client.post("/hooks/forms/landing", json=ADA)
    assert response.status_code == 202
    assert "access-control-allow-origin" not in response.headers
    session.add(Source(slug="plain", name="Plain form"))
    await session.flush()
    other = await client.post(
        "/hooks/forms/plain", json={**ADA, "phone": "415-555-0143"}, headers={"Origin": SITE}
    )
    assert other.status_code == 202
    assert "access-control-allow-origin" not in other.headers
