"""SMS tests: a carrier sandbox of their own, signed carrier webhooks, leads with a rep."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest
from httpx import AsyncClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from app.carrier import build_twilio_client, close_twilio_client
from app.config import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, Settings, get_settings
from app.models import Attempt, Lead, Rep, Source
from sandbox.server import create_app as create_sandbox
from tests.conftest import free_port
from tests.sandbox.conftest import start_server, stop_server

TIME_SCALE = 0.01  # an SMS is sent 5 ms after it is created, delivered 10 ms later
OUR_NUMBER = "+14155550199"
LEAD_PHONE = "+14155550142"
REP_PHONE = "+14155550111"


@dataclass
class Carrier:
    """A sandbox, the product's client for it and its control API."""

    twilio: Client
    control: httpx.AsyncClient

    async def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        logged: list[dict[str, Any]] = (await self.control.get("/_sandbox/messages")).json()[
            "messages"
        ]
        return [m for m in logged if to in (None, m["to"])]


def sandbox_settings(port: int) -> Settings:
    return Settings(
        _env_file=None,
        twilio_account_sid="",
        twilio_auth_token=SecretStr(""),
        sandbox_host="127.0.0.1",
        sandbox_port=port,
    )


async def start_carrier(
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[Carrier, Any, Any]:
    app = create_sandbox(
        account_sid=SANDBOX_ACCOUNT_SID,
        auth_token=SANDBOX_AUTH_TOKEN,
        time_scale=TIME_SCALE,
        callback_timeout_s=5.0,
        webhook_transport=transport,
    )
    port = free_port()
    server, task = await start_server(app, port)
    control = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
    return Carrier(build_twilio_client(sandbox_settings(port)), control), server, task


async def stop_carrier(carrier: Carrier, server: Any, task: Any) -> None:
    await close_twilio_client(carrier.twilio)
    await carrier.control.aclose()
    await stop_server(server, task)


@pytest.fixture(scope="session")
async def carrier_server(database_url: str) -> AsyncIterator[Carrier]:
    """Its status callbacks go to PUBLIC_BASE_URL, where no API listens: these tests post the
    callbacks they need themselves."""
    carrier, server, task = await start_carrier()
    yield carrier
    await stop_carrier(carrier, server, task)


@pytest.fixture
async def carrier(carrier_server: Carrier) -> AsyncIterator[Carrier]:
    await carrier_server.control.post("/_sandbox/reset")
    yield carrier_server
    await carrier_server.control.delete("/_sandbox/faults")


@pytest.fixture
def sessions(session: AsyncSession) -> async_sessionmaker[AsyncSession]:
    """Sessions whose commits stay inside the test's rolled-back transaction."""
    return async_sessionmaker(
        bind=session.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


def signed(path: str, params: dict[str, str]) -> dict[str, str]:
    url = get_settings().public_base_url + path
    signature = RequestValidator(get_settings().carrier_auth_token).compute_signature(url, params)
    return {"X-Twilio-Signature": signature}


async def post_signed(client: AsyncClient, path: str, params: dict[str, str]) -> httpx.Response:
    return await client.post(path, data=params, headers=signed(path, params))


def incoming(body: str, sender: str = LEAD_PHONE, **extra: str) -> dict[str, str]:
    """Twilio's incoming-message webhook parameters."""
    sid = "SM" + uuid4().hex
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "From": sender,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
        **extra,
    }


@pytest.fixture
async def company_source(session: AsyncSession) -> Source:
    found = Source(slug="roofing", name="Roofing form", company="Acme Roofing", sms_from=OUR_NUMBER)
    session.add(found)
    await session.flush()
    return found


async def add_lead(
    session: AsyncSession, source: Source, *, phone: str = LEAD_PHONE, **fields: Any
) -> Lead:
    lead = Lead(
        source_id=source.id,
        phone=phone,
        phone_raw=phone,
        first_name="Ada",
        last_name="Lovelace",
        status="unreached",
        **fields,
    )
    session.add(lead)
    await session.flush()
    await session.refresh(lead)
    return lead


async def add_attempt(session: AsyncSession, lead: Lead, rep: Rep) -> Attempt:
    now = datetime.now(UTC)
    attempt = Attempt(
        lead_id=lead.id,
        rep_id=rep.id,
        ring_group=uuid4(),
        routing="longest_idle",
        status="completed",
        outcome="no_answer",
        webhook_received_at=now,
        created_at=now,
        ended_at=now,
    )
    session.add(attempt)
    await session.flush()
    return attempt


@pytest.fixture
async def rep(session: AsyncSession) -> Rep:
    found = Rep(name="Dana", phone=REP_PHONE)
    session.add(found)
    await session.flush()
    return found
