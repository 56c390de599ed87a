"""Per-address and per-source limits on the public intake: 429 with Retry-After, then recovery."""

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from arq.connections import ArqRedis
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.models import Lead, Source
from tests.abuse.conftest import PUBLIC_ADDRESS

ClientAt = Callable[[str], AbstractAsyncContextManager[AsyncClient]]
ADDRESS_KEY = f"firstring:intake:address:{PUBLIC_ADDRESS}"


def lead(i: int) -> dict[str, str]:
    return {"name": "Ada Lovelace", "phone": f"+1415555{i:04d}"}


async def lead_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Lead)) or 0)


def assert_rate_limited(response: Any, who: str) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert who in response.json()["error"]["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60


async def test_an_address_over_its_limit_gets_429_then_recovers(
    client_at: ClientAt,
    session: AsyncSession,
    source: Source,
    arq_redis: ArqRedis,
    settings: Callable[..., Settings],
) -> None:
    settings(intake_rate_per_ip_per_minute=3)
    async with client_at(PUBLIC_ADDRESS) as client:
        for i in range(3):
            assert (await client.post("/hooks/forms/landing", json=lead(i))).status_code == 202
        assert_rate_limited(await client.post("/hooks/forms/landing", json=lead(3)), "address")
        assert await lead_count(session) == 3
        await arq_redis.pexpire(ADDRESS_KEY, 1)  # the minute is over
        await asyncio.sleep(0.01)
        assert (await client.post("/hooks/forms/landing", json=lead(4))).status_code == 202
    assert await lead_count(session) == 4


async def test_one_address_over_its_limit_leaves_others_and_the_source_alone(
    client_at: ClientAt, source: Source, settings: Callable[..., Settings]
) -> None:
    settings(intake_rate_per_ip_per_minute=1, intake_rate_per_source_per_minute=3)
    async with client_at(PUBLIC_ADDRESS) as noisy, client_at("81.2.69.161") as other:
        assert (await noisy.post("/hooks/forms/landing", json=lead(0))).status_code == 202
        for i in range(1, 6):  # refused per address: these use none of the source's budget
            assert (await noisy.post("/hooks/forms/landing", json=lead(i))).status_code == 429
        assert (await other.post("/hooks/forms/landing", json=lead(9))).status_code == 202


async def test_a_source_over_its_limit_gets_429_from_every_address_then_recovers(
    client_at: ClientAt,
    session: AsyncSession,
    source: Source,
    arq_redis: ArqRedis,
    settings: Callable[..., Settings],
) -> None:
    settings(intake_rate_per_source_per_minute=2)
    session.add(Source(slug="other", name="Other form"))
    await session.flush()
    async with client_at(PUBLIC_ADDRESS) as first, client_at("81.2.69.161") as second:
        assert (await first.post("/hooks/forms/landing", json=lead(0))).status_code == 202
        assert (await second.post("/hooks/forms/landing", json=lead(1))).status_code == 202
        assert_rate_limited(await first.post("/hooks/forms/landing", json=lead(2)), "source")
        assert_rate_limited(await second.post("/hooks/forms/landing", json=lead(3)), "source")
        assert (await first.post("/hooks/forms/other", json=lead(4))).status_code == 202
        await arq_redis.pexpire("firstring:intake:source:landing", 1)
        await asyncio.sleep(0.01)
        assert (await second.post("/hooks/forms/landing", json=lead(5))).status_code == 202


async def test_retry_after_counts_down_with_the_window(
    client_at: ClientAt, source: Source, arq_redis: ArqRedis, settings: Callable[..., Settings]
) -> None:
    settings(intake_rate_per_ip_per_minute=1)
    async with client_at(PUBLIC_ADDRESS) as client:
        await client.post("/hooks/forms/landing", json=lead(0))
        await arq_redis.pexpire(ADDRESS_KEY, 7_500)
        response = await client.post("/hooks/forms/landing", json=lead(1))
    assert response.headers["Retry-After"] == "8"


def signed(secret: str, payload: dict[str, str]) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    t = str(int(time.time()))
    digest = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-FirstRing-Signature": f"t={t},v1={digest}"}
    return {"content": body, "headers": headers}


async def test_signed_posts_are_limited_per_source_not_per_address(
    client_at: ClientAt, session: AsyncSession, settings: Callable[..., Settings]
) -> None:
    settings(intake_rate_per_ip_per_minute=1, intake_rate_per_source_per_minute=3)
    session.add(Source(slug="vendor", name="Form vendor", secret="s3cret-s3cret-s3cret"))
    await session.flush()
    async with client_at(PUBLIC_ADDRESS) as vendor:  # one vendor address, many customers' leads
        for i in range(3):
            response = await vendor.post(
                "/hooks/forms/vendor", **signed("s3cret-s3cret-s3cret", lead(i))
            )
            assert response.status_code == 202, response.text
        response = await vendor.post(
            "/hooks/forms/vendor", **signed("s3cret-s3cret-s3cret", lead(3))
        )
    assert_rate_limited(response, "source")


async def test_behind_trusted_proxies_the_forwarded_address_is_limited(
    client: AsyncClient, source: Source, arq_redis: ArqRedis, settings: Callable[..., Settings]
) -> None:
    settings(intake_rate_per_ip_per_minute=1, trusted_proxy_hops=2)
    # The client wrote the first entry itself; our two proxies appended the last two.
    forwarded = {"X-Forwarded-For": f"6.6.6.6, {PUBLIC_ADDRESS}, 10.0.0.5"}
    first = await client.post("/hooks/forms/landing", json=lead(0), headers=forwarded)
    assert first.status_code == 202
    assert await arq_redis.get(ADDRESS_KEY) == b"1"
    forged = {"X-Forwarded-For": f"7.7.7.7, {PUBLIC_ADDRESS}, 10.0.0.5"}
    assert_rate_limited(
        await client.post("/hooks/forms/landing", json=lead(1), headers=forged), "address"
    )


async def test_without_trusted_proxies_forwarded_for_is_ignored(
    client_at: ClientAt, source: Source, settings: Callable[..., Settings]
) -> None:
    settings(intake_rate_per_ip_per_minute=1)
    async with client_at(PUBLIC_ADDRESS) as client:
        await client.post("/hooks/forms/landing", json=lead(0))
        spoofed = {"X-Forwarded-For": "81.2.69.161"}
        response = await client.post("/hooks/forms/landing", json=lead(1), headers=spoofed)
    assert_rate_limited(response, "address")


async def test_internal_addresses_are_limited_per_source_only(
    client: AsyncClient, source: Source, arq_redis: ArqRedis, settings: Callable[..., Settings]
) -> None:
    """The test client posts from 127.0.0.1, as a proxy on the same host would."""
    settings(intake_rate_per_ip_per_minute=1)
    for i in range(3):
        assert (await client.post("/hooks/forms/landing", json=lead(i))).status_code == 202
    assert await arq_redis.keys("firstring:intake:address:*") == []


async def test_ipv6_addresses_share_a_limit_per_64(
    client_at: ClientAt, source: Source, arq_redis: ArqRedis, settings: Callable[..., Settings]
) -> None:
    settings(intake_rate_per_ip_per_minute=1)
    async with client_at("2a00:1450:4001:800::1") as one, client_at("2a00:1450:4001:800::2") as two:
        assert (await one.post("/hooks/forms/landing", json=lead(0))).status_code == 202
        assert_rate_limited(await two.post("/hooks/forms/landing", json=lead(1)), "address")
    assert await arq_redis.exists("firstring:intake:address:2a00:1450:4001:800::/64")


async def test_redis_down_lets_posts_through(
    client_at: ClientAt, session: AsyncSession, source: Source, settings: Callable[..., Settings]
) -> None:
    from app.main import app
    from app.queue import close_arq, make_arq

    settings(intake_rate_per_ip_per_minute=1, intake_rate_per_source_per_minute=1)
    app.state.arq = make_arq("redis://127.0.0.1:1")  # nothing listens on port 1
    try:
        async with client_at(PUBLIC_ADDRESS) as client:
            for i in range(3):
                assert (await client.post("/hooks/forms/landing", json=lead(i))).status_code == 202
    finally:
        await close_arq(app.state.arq)
    assert await lead_count(session) == 3
