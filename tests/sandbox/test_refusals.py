"""Requests real Twilio refuses are refused here, with Twilio's codes, by both validators."""

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from app.carrier import build_twilio_client, close_twilio_client
from app.config import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, Settings
from sandbox.server import create_app

CALLS = f"/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}/Calls.json"
GOOD = [("To", "+15551230001"), ("From", "+15550000001"), ("Url", "http://127.0.0.1:9/a")]

CASES = [
    pytest.param([("From", "+15550000001"), ("Url", "http://x.test/a")], 21201, id="missing-To"),
    pytest.param([("To", "+15551230001"), ("Url", "http://x.test/a")], 21213, id="missing-From"),
    pytest.param(GOOD[:2], 21205, id="missing-Url"),
    pytest.param([*GOOD[:2], ("Url", "not a url")], 21205, id="bad-Url"),
    pytest.param([("To", "5551230001"), *GOOD[1:]], 21211, id="bad-To"),
    pytest.param([GOOD[0], ("From", "nobody"), GOOD[2]], 21212, id="bad-From"),
    pytest.param([*GOOD, ("Colour", "blue")], 20001, id="unknown-parameter"),
    pytest.param([*GOOD, ("Timeout", "soon")], 21100, id="Timeout-not-integer"),
    pytest.param([*GOOD, ("Method", "PUT")], 21100, id="Method-not-in-enum"),
]
AUTH = (SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN)


@pytest.fixture(params=["compiled", "openapi-core"])
async def asgi_client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        account_sid=SANDBOX_ACCOUNT_SID, auth_token=SANDBOX_AUTH_TOKEN, validator=request.param
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", auth=AUTH) as c:
        yield c
    await app.state.sandbox.aclose()


FORM_HEADERS = {"content-type": "application/x-www-form-urlencoded"}


async def post(
    client: httpx.AsyncClient, path: str, pairs: list[tuple[str, str]]
) -> httpx.Response:
    return await client.post(path, content=urlencode(pairs), headers=FORM_HEADERS)


@pytest.mark.parametrize(("pairs", "code"), CASES)
async def test_refusals(
    asgi_client: httpx.AsyncClient, pairs: list[tuple[str, str]], code: int
) -> None:
    response = await post(asgi_client, CALLS, pairs)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code
    assert body["status"] == 400 and body["more_info"].endswith(str(code)) and body["message"]


async def test_repeated_keys_are_lists(asgi_client: httpx.AsyncClient) -> None:
    pairs = [
        *GOOD,
        ("StatusCallback", "http://127.0.0.1:9/s"),
        ("StatusCallbackEvent", "initiated"),
        ("StatusCallbackEvent", "answered"),
    ]
    response = await post(asgi_client, CALLS, pairs)
    assert response.status_code == 201, response.text
    assert response.json()["sid"].startswith("CA")
    await post(asgi_client, f"{CALLS[:-5]}/{response.json()['sid']}.json", [("Status", "canceled")])


async def test_unknown_sid_is_404(asgi_client: httpx.AsyncClient) -> None:
    response = await asgi_client.get(f"{CALLS[:-5]}/CA{'0' * 32}.json")
    assert response.status_code == 404 and response.json()["code"] == 20404
    response = await asgi_client.get(f"{CALLS[:-5]}/nonsense.json")
    assert response.status_code == 404 and response.json()["code"] == 20404


async def test_bad_auth_is_401(sandbox_url: str) -> None:
    settings = Settings(
        _env_file=None,
        twilio_account_sid=SANDBOX_ACCOUNT_SID,
        twilio_auth_token=SecretStr("wrong-token"),
        twilio_api_base_url=sandbox_url,
    )
    client = build_twilio_client(settings)
    with pytest.raises(TwilioRestException) as refused:
        await client.calls.create_async(
            to="+15551230001", from_="+15550000001", url="http://x.test/"
        )
    await close_twilio_client(client)
    assert refused.value.status == 401 and refused.value.code == 20003


async def test_refusal_through_the_twilio_library(twilio: Client) -> None:
    with pytest.raises(TwilioRestException) as refused:
        await twilio.calls.create_async(to="+15551230001", from_="+15550000001", url="ftp://x/y")
    assert refused.value.status == 400 and refused.value.code == 21205
    with pytest.raises(TwilioRestException) as refused:
        await twilio.calls.create_async(to="+15551230001", from_="+15550000001")
    assert refused.value.code == 21205
