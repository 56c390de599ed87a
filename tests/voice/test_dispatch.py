"""The carrier callbacks' own way in answers exactly as the routed app does, and nothing else."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from uuid import uuid4

import pytest
from arq.connections import ArqRedis
from httpx import ASGITransport, AsyncClient, Response
from prometheus_client import REGISTRY
from starlette.requests import Request
from twilio.request_validator import RequestValidator

from app.calls import outcomes
from app.config import get_settings
from app.voice.dispatch import CarrierCallbackDispatch, voice_routes
from app.voice.router import requested


def signed(path: str, params: dict[str, str]) -> dict[str, str]:
    url = get_settings().public_base_url + path
    signature = RequestValidator(get_settings().carrier_auth_token).compute_signature(url, params)
    return {"X-Twilio-Signature": signature}


@pytest.fixture
async def routed(client: AsyncClient, arq_redis: ArqRedis) -> AsyncIterator[AsyncClient]:
    """The same app without the dispatch: every callback goes through FastAPI's routing."""
    from app.main import app, create_app

    plain = create_app()
    plain.user_middleware = [
        m for m in plain.user_middleware if m.cls is not CarrierCallbackDispatch
    ]
    plain.dependency_overrides = app.dependency_overrides  # the test's session
    plain.state.arq = arq_redis
    async with AsyncClient(transport=ASGITransport(app=plain), base_url=client.base_url) as http:
        yield http


def comparable(response: Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    return response.status_code, response.content, headers


def duration_count(route: str, status: int) -> float:
    labels = {"method": "POST", "route": route, "status": str(status)}
    value = REGISTRY.get_sample_value("firstring_http_request_duration_seconds_count", labels)
    return value or 0.0


def requests(attempt: str) -> list[tuple[str, dict[str, str], dict[str, str] | None]]:
    """(path, form, headers or None for a correct signature): refusals and unknown attempts."""
    ringing = {"CallSid": "CA" + "1" * 32, "CallStatus": "ringing"}
    return [
        (f"/twilio/status/rep?attempt={attempt}", ringing, {"X-Twilio-Signature": "bm9wZQ=="}),
        (f"/twilio/status/rep?attempt={attempt}", ringing, {}),
        ("/twilio/status/rep?attempt=not-a-uuid", ringing, None),
        ("/twilio/status/rep", ringing, None),
        (f"/twilio/status/rep?attempt={attempt}", ringing, None),
        (
            f"/twilio/status/lead?attempt={attempt}",
            {**ringing, "AnsweredBy": "machine_start"},
            None,
        ),
        (f"/twilio/voice/rep?attempt={attempt}", ringing, None),
        (f"/twilio/voice/choice?attempt={attempt}", {"Digits": "1"}, None),
        (f"/twilio/voice/choice?attempt={attempt}", {"Digits": "3"}, None),
        (f"/twilio/voice/dial-result?attempt={attempt}", {"DialCallStatus": "busy"}, None),
        (f"/twilio/voice/disposition?attempt={attempt}", {"Digits": "1"}, None),
    ]


async def test_callbacks_are_answered_as_the_routed_app_answers_them(
    client: AsyncClient, routed: AsyncClient
) -> None:
    for path, form, headers in requests(str(uuid4())):
        sent: dict[str, Any] = {"data": form, "headers": headers or signed(path, form)}
        dispatched, plain = await client.post(path, **sent), await routed.post(path, **sent)
        assert comparable(dispatched) == comparable(plain), path
        assert dispatched.headers["x-request-id"]


async def test_a_dispatched_callback_is_timed_under_its_route_template(
    client: AsyncClient,
) -> None:
    before = duration_count("/twilio/status/rep", 204)
    path, form = f"/twilio/status/rep?attempt={uuid4()}", {"CallStatus": "ringing"}
    assert (await client.post(path, data=form, headers=signed(path, form))).status_code == 204
    assert duration_count("/twilio/status/rep", 204) == before + 1


async def test_other_methods_and_paths_go_through_the_routing(client: AsyncClient) -> None:
    assert (await client.get(f"/twilio/status/rep?attempt={uuid4()}")).status_code == 405
    assert (await client.post("/twilio/status/nope")).status_code == 404
    assert set(voice_routes()) == {
        "/twilio/voice/rep",
        "/twilio/voice/choice",
        "/twilio/voice/dial-result",
        "/twilio/voice/disposition",
        "/twilio/status/rep",
        "/twilio/status/lead",
    }


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/twilio/status/rep", b"attempt=1"),
        ("/twilio/status/rep", b""),
        ("/twilio/status/rep", b"attempt=1#fragment"),
        ("/twilio/status/r#ep", b"a=\\b"),
        ("/twilio/status/r?ep", b"a=b"),
        ("/twilio/status/r\tep", b"a=\nb"),
    ],
)
def test_the_signed_url_is_the_one_the_request_names(path: str, query: bytes) -> None:
    request = Request({"type": "http", "path": path, "query_string": query, "headers": []})
    expected = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    assert requested(request) == expected


def test_a_late_callback_keeps_the_carrier_timestamp_and_a_bad_one_is_ignored() -> None:
    late = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    for _ in range(2):  # the second parse comes from the cache
        assert outcomes.event_time({"Timestamp": format_datetime(late)}) == late
    assert datetime.now(UTC) - outcomes.event_time({"Timestamp": "not a date"}) < timedelta(1)
