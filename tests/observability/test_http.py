"""The API's request ids, request durations and /metrics."""

import io
import json
import logging

from httpx import ASGITransport, AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.models import Lead, Rep, Source
from app.observability import logs
from app.observability.http import RequestContextMiddleware

METRIC_NAMES = {
    "firstring_speed_to_lead_seconds",
    "firstring_dial_stage_seconds",
    "firstring_attempt_outcomes",
    "firstring_carrier_errors",
    "firstring_leads_waiting",
    "firstring_reps",
    "firstring_http_request_duration_seconds",
}


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_a_given_request_id_is_echoed(client: AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"


async def test_without_a_usable_request_id_one_is_generated(client: AsyncClient) -> None:
    first = (await client.get("/healthz")).headers["X-Request-ID"]
    bad = await client.get("/healthz", headers={"X-Request-ID": "two words\tand a tab"})
    assert len(first) == 32 and bad.headers["X-Request-ID"] not in (first, "two words\tand a tab")


async def test_log_lines_of_a_request_carry_its_id_and_attempt() -> None:
    def endpoint(request: Request) -> PlainTextResponse:
        logging.getLogger("tests.observability.http").warning("callback for +14155550142")
        return PlainTextResponse("ok")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("tests.observability.http")
    logger.addHandler(handler)
    app = RequestContextMiddleware(Starlette(routes=[Route("/cb", endpoint, methods=["POST"])]))
    attempt = "0b3c5a4e-7d2f-4b8e-9c1a-2f3e4d5c6b7a"
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            await http.post(f"/cb?attempt={attempt}", headers={"X-Request-ID": "req-42"})
    finally:
        logger.removeHandler(handler)
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["request_id"] == "req-42" and line["attempt_id"] == attempt
    assert line["message"] == "callback for +1415***0142"
    assert logs.request_id.get() is None  # the request's context ended with it


async def test_metrics_exposes_every_name_after_a_lead(
    client: AsyncClient, session: AsyncSession, source: Source
) -> None:
    session.add_all(
        [
            Rep(name="Idle", phone="+14155550111"),
            Rep(name="Away", phone="+14155550112", availability="away"),
        ]
    )
    await session.flush()
    response = await client.post("/hooks/forms/landing", json={"phone": "(415) 555-0142"})
    assert response.status_code == 202
    lead = await session.get(Lead, response.json()["lead_id"])
    assert lead is not None
    lead.status = "waiting"
    await session.flush()

    scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(scraped.text)}
    assert METRIC_NAMES <= names
    found = samples(scraped.text)
    assert found[("firstring_leads_waiting", ())] >= 1
    assert found[("firstring_reps", (("availability", "away"), ("call_state", "idle")))] >= 1
    intake = (("method", "POST"), ("route", "/hooks/forms/{source}"), ("status", "202"))
    assert found[("firstring_http_request_duration_seconds_count", intake)] >= 1
    stages = {dict(labels).get("stage") for name, labels in found if "dial_stage" in name}
    assert {"queue", "claim", "carrier"} <= stages


async def test_unknown_paths_share_one_route_label(client: AsyncClient) -> None:
    await client.get("/no/such/path/12345")
    found = samples((await client.get("/metrics")).text)
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert found[("firstring_http_request_duration_seconds_count", unmatched)] >= 1
    assert not any("12345" in str(labels) for _, labels in found)


async def test_metrics_is_not_in_the_api_description(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/metrics" not in schema["paths"]
