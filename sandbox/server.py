"""The sandbox's ASGI app and its blocking entry point (`firstring sandbox`)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox import control, rest
from sandbox.errors import TwilioApiError
from sandbox.heap import HeapKeeper
from sandbox.state import Sandbox
from sandbox.validation import CompiledValidator, RequestValidator

ValidatorKind = Literal["compiled", "openapi-core"]


def build_validator(kind: ValidatorKind) -> RequestValidator:
    if kind == "openapi-core":
        from sandbox.reference_validation import OpenApiCoreValidator

        return OpenApiCoreValidator()
    return CompiledValidator()


async def twilio_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TwilioApiError)
    headers = dict(exc.headers)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return JSONResponse(exc.to_json(), status_code=exc.status, headers=headers)


def create_app(
    *,
    account_sid: str,
    auth_token: str,
    time_scale: float = 1.0,
    callback_timeout_s: float = 15.0,
    validator: ValidatorKind = "compiled",
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """`validator="openapi-core"` validates every request with openapi-core itself (slower).
    `webhook_transport` (e.g. `httpx.ASGITransport(app=product)`) sends every webhook to an
    in-process product instead of over the network; the URLs and signatures stay the same."""
    sandbox = Sandbox(
        account_sid=account_sid,
        auth_token=auth_token,
        time_scale=time_scale,
        callback_timeout_s=callback_timeout_s,
        webhook_transport=webhook_transport,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        keeper = asyncio.create_task(HeapKeeper(sandbox.busy).run())
        yield
        keeper.cancel()
        await sandbox.aclose()

    app = Starlette(
        routes=[*rest.routes, *control.routes],
        exception_handlers={TwilioApiError: twilio_error},
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    app.state.validator = build_validator(validator)
    return app


def serve(host: str, port: int, *, account_sid: str, auth_token: str, time_scale: float) -> None:
    """Run the sandbox until interrupted."""
    app = create_app(account_sid=account_sid, auth_token=auth_token, time_scale=time_scale)
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")
