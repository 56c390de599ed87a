"""Fixtures for the carrier sandbox tests: the sandbox and a stand-in product, both under uvicorn.

Nothing here needs a database or Redis; these fixtures do not depend on tests/conftest.py.
"""

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from app.carrier import build_twilio_client, close_twilio_client
from app.config import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, Settings
from sandbox.server import create_app

TIME_SCALE = 0.01  # one simulated second lasts 10 ms
CALLBACK_TIMEOUT_S = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def start_server(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn offers no event to await; poll its flag for up to 5 s
        if server.started:
            break
        await asyncio.sleep(0.01)
    return server, task


async def stop_server(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await task


@dataclass
class Reply:
    twiml: str = "<Response/>"
    status: int = 200
    delay_s: float = 0.0
    content_type: str = "application/xml"


@dataclass
class Hit:
    path: str
    method: str
    params: dict[str, str]
    signature_valid: bool
    signature: str = ""
    idempotency_token: str = ""


@dataclass
class Product:
    """The product side of the wire: answers TwiML per path and records every request it gets."""

    root: str
    prefix: str = ""
    replies: dict[str, Reply | Callable[[dict[str, str]], Reply]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.root}{self.prefix}{path}"

    def on(self, path: str, reply: "Reply | str | Callable[[dict[str, str]], Reply]") -> str:
        self.replies[self.prefix + path] = Reply(reply) if isinstance(reply, str) else reply
        return self.url(path)

    def hits_to(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == self.prefix + path]


def product_app(product: Product) -> Starlette:
    validator = RequestValidator(SANDBOX_AUTH_TOKEN)

    async def endpoint(request: Request) -> Response:
        form = await request.form() if request.method == "POST" else {}
        params = {key: str(value) for key, value in form.items()}
        signature = request.headers.get("x-twilio-signature", "")
        valid = validator.validate(str(request.url), params, signature)
        token = request.headers.get("i-twilio-idempotency-token", "")
        hit = Hit(request.url.path, request.method, params, valid, signature, token)
        product.hits.append(hit)
        reply = product.replies.get(request.url.path, Reply())
        if callable(reply):
            reply = reply({**params, **request.query_params})
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return Response(reply.twiml, status_code=reply.status, media_type=reply.content_type)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])


@pytest.fixture(scope="session")
async def sandbox_url() -> AsyncIterator[str]:
    app = create_app(
        account_sid=SANDBOX_ACCOUNT_SID,
        auth_token=SANDBOX_AUTH_TOKEN,
        time_scale=TIME_SCALE,
        callback_timeout_s=CALLBACK_TIMEOUT_S,
    )
    port = free_port()
    server, task = await start_server(app, port)
    yield f"http://127.0.0.1:{port}"
    await stop_server(server, task)


@pytest.fixture(scope="session")
async def product_server() -> AsyncIterator[Product]:
    port = free_port()
    product = Product(root=f"http://127.0.0.1:{port}")
    server, task = await start_server(product_app(product), port)
    yield product
    await stop_server(server, task)


@pytest.fixture
def product(product_server: Product) -> Product:
    """A clean slate per test: paths are per test, so old calls' requests cannot interfere."""
    product_server.prefix = f"/t-{uuid.uuid4().hex[:8]}"
    return product_server


@pytest.fixture(scope="session")
async def twilio(sandbox_url: str) -> AsyncIterator[Client]:
    port = int(sandbox_url.rsplit(":", 1)[1])
    settings = Settings(
        _env_file=None,
        twilio_account_sid="",
        twilio_auth_token=SecretStr(""),
        sandbox_host="127.0.0.1",
        sandbox_port=port,
    )
    client = build_twilio_client(settings)
    yield client
    await close_twilio_client(client)


@pytest.fixture(scope="session")
async def control(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        yield client


@pytest.fixture
def phone() -> Callable[[], str]:
    """Fresh E.164 numbers, so scripts from other tests never apply."""

    def number() -> str:
        return "+1555" + str(uuid.uuid4().int)[:7]

    return number
