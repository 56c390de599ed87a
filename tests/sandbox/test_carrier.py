"""app/carrier.py: the only module that knows whether the carrier is Twilio or the sandbox."""

from pydantic import SecretStr
from twilio.rest import Client

from app.carrier import CarrierHttpClient, build_twilio_client, close_twilio_client
from app.config import SANDBOX_ACCOUNT_SID, Settings


def test_sandbox_base_url_replaces_twilio() -> None:
    client = CarrierHttpClient("http://127.0.0.1:8100/")
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json"
    assert client.rewrite(url) == "http://127.0.0.1:8100/2010-04-01/Accounts/AC1/Calls.json"


def test_production_urls_are_left_alone() -> None:
    client = CarrierHttpClient("https://api.twilio.com")
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json"
    assert client.rewrite(url) == url


def test_credentials_come_from_settings() -> None:
    settings = Settings(
        _env_file=None, twilio_account_sid="AC" + "1" * 32, twilio_auth_token=SecretStr("t")
    )
    client = build_twilio_client(settings)
    assert client.username == "AC" + "1" * 32 and client.password == "t"
    assert client.http_client.base_url == "https://api.twilio.com"
    sandbox = build_twilio_client(
        Settings(_env_file=None, twilio_account_sid="", sandbox_port=8100)
    )
    assert sandbox.username == SANDBOX_ACCOUNT_SID
    assert sandbox.http_client.base_url == "http://127.0.0.1:8100"


async def test_client_survives_close(twilio: Client) -> None:
    await close_twilio_client(twilio)
    calls = await twilio.calls.list_async(limit=1)  # a new session opens on demand
    assert isinstance(calls, list)
