"""POST /hooks/forms/{source}: every body kind, every refusal, duplicates and Redis outages."""

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any
from uuid import UUID

import pytest
from arq.connections import ArqRedis
from httpx import AsyncClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Lead, Source
from app.queue import dial_job_id
from tests.conftest import create_live_api_key

ADA = {"name": "Ada Lovelace", "phone": "(415) 555-0142", "email": "ada@example.com"}


async def lead_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Lead)) or 0)


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


async def test_json_body_becomes_a_lead_due_for_dialing(
    client: AsyncClient, session: AsyncSession, source: Source, arq_redis: ArqRedis
) -> None:
    payload = {**ADA, "message": "Call me about pricing", "utm": {"campaign": "fall"}}
    response = await client.post("/hooks/forms/landing", json=payload)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["duplicate"] is False and body["status"] == "new"
    lead = await session.get(Lead, UUID(body["lead_id"]))
    assert lead is not None
    assert (lead.phone, lead.phone_raw, lead.full_name) == (
        "+14155550142",
        "(415) 555-0142",
        ADA["name"],
    )
    assert lead.email == "ada@example.com"
    assert lead.fields["message"] == "Call me about pricing"
    assert lead.fields["utm.campaign"] == "fall"
    assert lead.dial_due_at is not None
    assert await arq_redis.exists(f"arq:job:{dial_job_id(lead.id)}")


async def test_form_urlencoded_body(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    response = await client.post(
        "/hooks/forms/landing",
        data={
            "first_name": "Grace",
            "last_name": "Hopper",
            "phone": "415-555-0143",
            "interest": ["a", "b"],
        },
    )
    assert response.status_code == 202, response.text
    lead = await session.get(Lead, UUID(response.json()["lead_id"]))
    assert lead is not None
    assert (lead.first_name, lead.last_name, lead.phone) == ("Grace", "Hopper", "+14155550143")
    assert lead.fields["interest"] == "a, b"


async def test_multipart_body(client: AsyncClient, session: AsyncSession, source: Source) -> None:
    response = await client.post(
        "/hooks/forms/landing",
        data={"your-name": "Alan Turing", "your-phone": "+44 20 7946 0000"},
        files={"resume": ("cv.pdf", b"%PDF-1.4", "application/pdf")},
    )
    assert response.status_code == 202, response.text
    lead = await session.get(Lead, UUID(response.json()["lead_id"]))
    assert lead is not None
    assert lead.phone == "+442079460000"
    assert lead.fields["resume"] == "cv.pdf"


async def test_field_map_wins_over_detection(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    source.field_map = {"phone": "Best number to reach you"}
    await session.flush()
    response = await client.post(
        "/hooks/forms/landing",
        json={"phone": "415-555-0100", "Best number to reach you": "415-555-0199"},
    )
    assert response.status_code == 202, response.text
    lead = await session.get(Lead, UUID(response.json()["lead_id"]))
    assert lead is not None and lead.phone == "+14155550199"


async def assert_refused(
    response: Any, session: AsyncSession, status: int, code: str, field: str | None = None
) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error.get("field") == field
    assert error["message"]
    assert await lead_count(session) == 0


async def test_missing_phone_is_422_naming_the_field(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    response = await client.post("/hooks/forms/landing", json={"name": "No Phone"})
    await assert_refused(response, session, 422, "missing_phone", "phone")


async def test_missing_mapped_phone_names_the_mapped_field(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    source.field_map = {"phone": "Mobile"}
    await session.flush()
    response = await client.post("/hooks/forms/landing", json={"name": "X", "phone": "4155550142"})
    await assert_refused(response, session, 422, "missing_phone", "Mobile")


async def test_invalid_phone_is_422_naming_the_field(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    response = await client.post("/hooks/forms/landing", json={"mobile": "12345"})
    await assert_refused(response, session, 422, "invalid_phone", "mobile")


async def test_body_over_64_kib_is_413(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    response = await client.post("/hooks/forms/landing", json={**ADA, "notes": "x" * 70_000})
    await assert_refused(response, session, 413, "payload_too_large")


async def test_unknown_content_type_is_415(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    response = await client.post(
        "/hooks/forms/landing", content=b"phone=4155550142", headers={"Content-Type": "text/csv"}
    )
    await assert_refused(response, session, 415, "unsupported_media_type", "Content-Type")


async def test_malformed_json_is_400(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    response = await client.post(
        "/hooks/forms/landing",
        content=b'{"phone": "4155550142",',
        headers={"Content-Type": "application/json"},
    )
    await assert_refused(response, session, 400, "malformed_json")


async def test_malformed_multipart_is_400(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    response = await client.post(
        "/hooks/forms/landing",
        content=b"--x\r\nContent-Disposition: form-data\r\n\r\nbroken",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code in (400, 422), response.text
    assert await lead_count(session) == 0


async def test_unknown_source_is_404(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    response = await client.post("/hooks/forms/nope", json=ADA)
    await assert_refused(response, session, 404, "not_found", "source")


@pytest.fixture
async def signed_source(session: AsyncSession) -> Source:
    found = Source(slug="signed", name="Signed form", secret="s3cret-s3cret-s3cret")
    session.add(found)
    await session.flush()
    return found


async def test_signed_source_accepts_a_good_signature(
    client: AsyncClient, session: AsyncSession, signed_source: Source
) -> None:
    body = json.dumps(ADA).encode()
    response = await client.post(
        "/hooks/forms/signed",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-FirstRing-Signature": sign("s3cret-s3cret-s3cret", body),
        },
    )
    assert response.status_code == 202, response.text
    assert await lead_count(session) == 1


@pytest.mark.parametrize(
    "header",
    [
        None,
        "t=abc,v1=00",
        "t={now},v1=" + "0" * 64,
        "stale",
    ],
)
async def test_signed_source_refuses_bad_or_stale_signatures(
    client: AsyncClient, session: AsyncSession, signed_source: Source, header: str | None
) -> None:
    body = json.dumps(ADA).encode()
    if header == "stale":
        header = sign("s3cret-s3cret-s3cret", body, int(time.time()) - 3600)
    elif header is not None:
        header = header.format(now=int(time.time()))
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["X-FirstRing-Signature"] = header
    response = await client.post("/hooks/forms/signed", content=body, headers=headers)
    await assert_refused(response, session, 401, "unauthorized", "X-FirstRing-Signature")


async def test_same_phone_within_window_returns_first_lead(
    client: AsyncClient, session: AsyncSession, source: Source, arq_redis: ArqRedis
) -> None:
    first = await client.post("/hooks/forms/landing", json=ADA)
    await arq_redis.flushdb()
    second = await client.post("/hooks/forms/landing", json={**ADA, "phone": "+1 415 555 0142"})
    assert second.status_code == 202
    assert second.json() == {**first.json(), "duplicate": True}
    assert await lead_count(session) == 1
    assert await arq_redis.keys("arq:job:*") == []


async def test_same_phone_after_window_is_a_new_lead(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    first = await client.post("/hooks/forms/landing", json=ADA)
    await session.execute(text("UPDATE intake_claims SET expires_at = now() - interval '1 s'"))
    second = await client.post("/hooks/forms/landing", json=ADA)
    assert second.json()["duplicate"] is False
    assert second.json()["lead_id"] != first.json()["lead_id"]
    assert await lead_count(session) == 2


async def test_idempotency_key_returns_first_lead_even_for_another_phone(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    headers = {"Idempotency-Key": "form-123"}
    first = await client.post("/hooks/forms/landing", json=ADA, headers=headers)
    second = await client.post(
        "/hooks/forms/landing", json={**ADA, "phone": "415-555-0199"}, headers=headers
    )
    assert second.json() == {**first.json(), "duplicate": True}
    assert await lead_count(session) == 1


async def test_two_simultaneous_submissions_make_one_lead(
    live_client: AsyncClient, live_sessions: async_sessionmaker[AsyncSession], arq_redis: ArqRedis
) -> None:
    async with live_sessions() as session, session.begin():
        session.add(Source(slug="landing", name="Landing page"))
    for _ in range(5):
        responses = await asyncio.gather(
            *(live_client.post("/hooks/forms/landing", json=ADA) for _ in range(8))
        )
        assert {r.status_code for r in responses} == {202}
        assert len({r.json()["lead_id"] for r in responses}) == 1
        assert sorted(r.json()["duplicate"] for r in responses) == [False] + [True] * 7
        async with live_sessions() as session:
            assert await lead_count(session) == 1
            await session.execute(text("DELETE FROM intake_claims"))
            await session.execute(text("DELETE FROM leads"))
            await session.commit()


async def test_redis_down_still_accepts_and_leaves_the_dial_due(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    from app.main import app
    from app.queue import close_arq, make_arq

    app.state.arq = make_arq("redis://127.0.0.1:1")  # nothing listens on port 1
    try:
        response = await client.post("/hooks/forms/landing", json=ADA)
    finally:
        await close_arq(app.state.arq)
    assert response.status_code == 202, response.text
    lead = await session.get(Lead, UUID(response.json()["lead_id"]))
    assert lead is not None and lead.dial_due_at is not None and lead.dial_job_started_at is None


async def test_database_down_is_503_with_retry_after(arq_redis: ArqRedis) -> None:
    from app.db import get_session, make_engine
    from app.main import app
    from tests.conftest import build_client

    dead = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nothing", pool_size=1)

    async def unreachable() -> Any:
        async with async_sessionmaker(dead)() as session:
            yield session

    app.dependency_overrides[get_session] = unreachable
    try:
        async with build_client(arq_redis) as client:
            response = await client.post("/hooks/forms/landing", json=ADA)
    finally:
        app.dependency_overrides.clear()
        await dead.dispose()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"


async def test_nul_and_lone_surrogates_do_not_cost_a_lead(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    body = b'{"name": "Ada\\u0000 Lovelace", "phone": "4155550142", "note": "hi \\ud800 there"}'
    response = await client.post(
        "/hooks/forms/landing", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
    lead = await session.get(Lead, UUID(response.json()["lead_id"]))
    assert lead is not None and lead.full_name == "Ada Lovelace"
    assert lead.fields["note"] == "hi ? there"


async def test_a_losing_submission_leaves_no_claim_behind(
    live_client: AsyncClient, live_sessions: async_sessionmaker[AsyncSession], arq_redis: ArqRedis
) -> None:
    """A repeated Idempotency-Key with another phone is the first lead; that other phone was
    not claimed by it, so it still makes a lead of its own. The same holds through the API."""
    async with live_sessions() as session, session.begin():
        session.add(Source(slug="landing", name="Landing page"))
    headers = {"Idempotency-Key": "form-7"}
    first = await live_client.post("/hooks/forms/landing", json=ADA, headers=headers)
    other = {**ADA, "phone": "415-555-0199"}
    again = await live_client.post("/hooks/forms/landing", json=other, headers=headers)
    assert again.json() == {**first.json(), "duplicate": True}
    fresh = await live_client.post("/hooks/forms/landing", json=other)
    assert fresh.status_code == 202 and fresh.json()["duplicate"] is False
    key = await create_live_api_key(live_sessions)
    body = {"source": "landing", "phone": "+14155550177"}
    made = await live_client.post("/v1/leads", json=body, headers=key)
    repeat = await live_client.post("/v1/leads", json=body, headers=key)
    assert (made.status_code, repeat.status_code) == (202, 202), repeat.text
    assert repeat.json() == {**made.json(), "duplicate": True}
    async with live_sessions() as session:
        assert await lead_count(session) == 3
