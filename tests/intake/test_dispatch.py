"""The form webhook's own way in answers exactly as the routed app does, and nothing else."""

import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.connections import ArqRedis
from httpx import ASGITransport, AsyncClient, Response
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from app.intake.dispatch import FormWebhookDispatch, form_slug
from app.models import Source
from app.observability import logs

ADA = {"name": "Ada Lovelace", "phone": "(415) 555-0142"}


def duration_count(route: str, status: int) -> float:
    labels = {"method": "POST", "route": route, "status": str(status)}
    value = REGISTRY.get_sample_value("firstring_http_request_duration_seconds_count", labels)
    return value or 0.0


@pytest.fixture
async def routed(client: AsyncClient, arq_redis: ArqRedis) -> AsyncIterator[AsyncClient]:
    """The same app without the dispatch: every form post goes through FastAPI's routing."""
    from app.main import app, create_app

    plain = create_app()
    plain.user_middleware = [m for m in plain.user_middleware if m.cls is not FormWebhookDispatch]
    plain.dependency_overrides = app.dependency_overrides  # the test's session
    plain.state.arq = arq_redis
    async with AsyncClient(transport=ASGITransport(app=plain), base_url=client.base_url) as http:
        yield http


def comparable(response: Response) -> tuple[int, Any, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    return response.status_code, response.json(), headers


@pytest.mark.parametrize(
    ("path", "request_kwargs"),
    [
        ("/hooks/forms/nope", {"json": ADA}),
        ("/hooks/forms/landing", {"json": {"name": "No phone"}}),
        ("/hooks/forms/landing", {"json": {"phone": "+1 900 555 0100"}}),
        ("/hooks/forms/landing", {"content": b"{not json", "headers": {"Content-Type": "a/b"}}),
        (
            "/hooks/forms/landing",
            {"content": b"{not json", "headers": {"Content-Type": "text/json"}},
        ),
        (
            "/hooks/forms/landing",
            {"content": b"{", "headers": {"Content-Type": "application/json"}},
        ),
        ("/hooks/forms/landing", {"json": ADA, "headers": {"Idempotency-Key": "k" * 201}}),
        ("/hooks/forms/landing", {"json": ADA, "headers": {"Origin": "https://evil.example"}}),
    ],
)
async def test_refusals_are_the_routed_apps(
    client: AsyncClient,
    routed: AsyncClient,
    source: Source,
    session: AsyncSession,
    path: str,
    request_kwargs: dict[str, Any],
) -> None:
    source.cors_origins = ["https://www.example.com"]
    await session.flush()
    fast, slow = (
        await client.post(path, **request_kwargs),
        await routed.post(path, **request_kwargs),
    )
    assert fast.status_code >= 400
    assert comparable(fast) == comparable(slow)


async def test_an_accepted_lead_is_answered_as_the_routed_app_answers(
    client: AsyncClient, routed: AsyncClient, source: Source
) -> None:
    fast = await client.post("/hooks/forms/landing", json=ADA)
    slow = await routed.post("/hooks/forms/landing", json={**ADA, "phone": "415-555-0199"})
    assert (fast.status_code, slow.status_code) == (202, 202)
    assert fast.json().keys() == slow.json().keys()
    assert fast.json()["duplicate"] is slow.json()["duplicate"] is False
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"


async def test_a_refusal_keeps_its_request_id_and_is_timed_under_the_route(
    client: AsyncClient,
) -> None:
    before = duration_count("/hooks/forms/{source}", 404)
    response = await client.post("/hooks/forms/nope", json=ADA, headers={"X-Request-ID": "req-404"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "req-404"
    assert response.json()["error"]["code"] == "not_found"
    assert duration_count("/hooks/forms/{source}", 404) == before + 1


async def test_log_lines_of_a_webhook_carry_its_request_id(
    client: AsyncClient, source: Source, session: AsyncSession
) -> None:
    source.honeypot_field = "website"
    await session.flush()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("app.abuse.service")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        response = await client.post(
            "/hooks/forms/landing",
            json={**ADA, "website": "spam"},
            headers={"X-Request-ID": "req-honeypot"},
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert response.status_code == 202
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["request_id"] == "req-honeypot" and "honeypot" in line["message"]


async def test_an_unexpected_error_is_a_500_timed_as_one(
    client: AsyncClient, arq_redis: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.main import app

    async def broken(slug: str, request: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("app.intake.dispatch.receive_form", broken)
    before = duration_count("/hooks/forms/{source}", 500)
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url=client.base_url) as http:
        response = await http.post("/hooks/forms/landing", json=ADA)
    assert response.status_code == 500
    assert duration_count("/hooks/forms/{source}", 500) == before + 1


async def test_other_methods_and_paths_go_through_the_routing(client: AsyncClient) -> None:
    wrong_method = await client.get("/hooks/forms/landing")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    too_deep = await client.post("/hooks/forms/landing/more", json=ADA)
    assert too_deep.status_code == 404
    assert too_deep.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "root_path", "slug"),
    [
        ("POST", "/hooks/forms/landing", "", "landing"),
        ("POST", "/hooks/forms/with space", "", "with space"),
        ("POST", "/hooks/forms/", "", None),
        ("POST", "/hooks/forms/a/b", "", None),
        ("POST", "/hooks/formsx", "", None),
        ("GET", "/hooks/forms/landing", "", None),
        ("OPTIONS", "/hooks/forms/landing", "", None),
        ("POST", "/api/hooks/forms/landing", "/api", None),  # left to the routing
    ],
)
def test_form_slug(method: str, path: str, root_path: str, slug: str | None) -> None:
    scope = {"type": "http", "method": method, "path": path, "root_path": root_path}
    assert form_slug(scope) == slug


def test_the_dispatch_sits_inside_the_request_context_middleware() -> None:
    from app.main import app
    from app.observability.http import RequestContextMiddleware

    order = [m.cls for m in app.user_middleware]
    assert order.index(RequestContextMiddleware) < order.index(FormWebhookDispatch)
