"""A rotated source secret keeps working for its grace period, and not after."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Source

OLD, NEW = "old-secret-old-secret", "new-secret-new-secret"
SOURCE = {"slug": "signed", "name": "Signed form", "secret": OLD}


def signed(secret: str, phone: str) -> dict[str, Any]:
    body = json.dumps({"name": "Ada", "phone": phone}).encode()
    t = str(int(time.time()))
    digest = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-FirstRing-Signature": f"t={t},v1={digest}"}
    return {"content": body, "headers": headers}


async def post(client: AsyncClient, secret: str, phone: str) -> int:
    return (await client.post("/hooks/forms/signed", **signed(secret, phone))).status_code


@pytest.fixture
async def rotated(client: AsyncClient, api_key: dict[str, str]) -> dict[str, Any]:
    assert (await client.post("/v1/sources", json=SOURCE, headers=api_key)).status_code == 201
    response = await client.patch("/v1/sources/signed", json={"secret": NEW}, headers=api_key)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_old_secret_works_during_its_grace_period(
    client: AsyncClient, rotated: dict[str, Any]
) -> None:
    expires = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)
    assert "secret" not in rotated and "previous_secret" not in rotated
    assert await post(client, OLD, "415-555-0101") == 202
    assert await post(client, NEW, "415-555-0102") == 202
    assert await post(client, "some-other-secret-x", "415-555-0103") == 401


async def test_the_old_secret_fails_after_its_grace_period(
    client: AsyncClient, session: AsyncSession, rotated: dict[str, Any]
) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    await session.execute(update(Source).values(previous_secret_expires_at=past))
    assert await post(client, OLD, "415-555-0101") == 401
    assert await post(client, NEW, "415-555-0102") == 202


async def test_a_leaked_secret_can_be_ended_at_once(
    client: AsyncClient, api_key: dict[str, str], rotated: dict[str, Any]
) -> None:
    ended = await client.patch(
        "/v1/sources/signed", json={"secret_grace_seconds": 0}, headers=api_key
    )
    assert ended.json()["previous_secret_expires_at"] is None
    assert await post(client, OLD, "415-555-0101") == 401
    again = await client.patch(
        "/v1/sources/signed",
        json={"secret": OLD, "secret_grace_seconds": 0},
        headers=api_key,
    )
    assert again.json()["previous_secret_expires_at"] is None
    assert await post(client, NEW, "415-555-0102") == 401
    assert await post(client, OLD, "415-555-0103") == 202


async def test_a_grace_period_can_be_shortened_but_not_lengthened(
    client: AsyncClient, api_key: dict[str, str], rotated: dict[str, Any]
) -> None:
    short = await client.patch(
        "/v1/sources/signed", json={"secret_grace_seconds": 60}, headers=api_key
    )
    expires = datetime.fromisoformat(short.json()["previous_secret_expires_at"])
    assert expires - datetime.now(UTC) < timedelta(seconds=61)
    longer = await client.patch(
        "/v1/sources/signed", json={"secret_grace_seconds": 3600}, headers=api_key
    )
    assert longer.json()["previous_secret_expires_at"] == short.json()["previous_secret_expires_at"]


async def test_removing_the_secret_ends_the_old_one_too(
    client: AsyncClient, api_key: dict[str, str], rotated: dict[str, Any]
) -> None:
    response = await client.patch("/v1/sources/signed", json={"secret": None}, headers=api_key)
    body = response.json()
    assert body["has_secret"] is False and body["previous_secret_expires_at"] is None
