"""Twilio's REST API for Calls and Messages: Basic auth, validation, Twilio-shaped JSON."""

import base64
import binascii
import hmac
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import errors, faults, rules
from sandbox.errors import TwilioApiError
from sandbox.messages import send_message
from sandbox.network import place_call, update_call
from sandbox.state import Sandbox
from sandbox.validation import (
    CALL_FETCH,
    CALL_UPDATE,
    CALLS_CREATE,
    CALLS_LIST,
    MESSAGE_FETCH,
    MESSAGES_CREATE,
    MESSAGES_LIST,
    ApiRequest,
    OperationRef,
    RequestValidator,
)

ACCOUNT = "/2010-04-01/Accounts/{AccountSid}"
DEFAULT_PAGE_SIZE = 50


def authorize(sandbox: Sandbox, header: str) -> None:
    scheme, _, encoded = header.partition(" ")
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, password = "", ""
    valid = scheme.lower() == "basic" and hmac.compare_digest(
        f"{user}:{password}".encode(), f"{sandbox.account_sid}:{sandbox.auth_token}".encode()
    )
    if not valid:
        raise TwilioApiError(401, errors.AUTHENTICATE, "Authenticate")


async def validated(request: Request, operation: OperationRef) -> dict[str, Any]:
    """Authenticate, then validate against Twilio's OpenAPI description; return cast params."""
    sandbox: Sandbox = request.app.state.sandbox
    validator: RequestValidator = request.app.state.validator
    authorization = request.headers.get("authorization", "")
    authorize(sandbox, authorization)
    if request.path_params["AccountSid"] != sandbox.account_sid:
        raise errors.not_found(request.url.path)
    body = await request.body() if operation.method == "post" else b""
    return validator.validate(
        ApiRequest(
            operation=operation,
            path=request.url.path,
            authorization=authorization,
            path_params=dict(request.path_params),
            query=parse_qsl(request.url.query, keep_blank_values=True),
            form=parse_qsl(body.decode(), keep_blank_values=True),
            body=body,
        )
    )


async def injected_fault(request: Request, operation: str) -> None:
    """Answer with the fault the plan holds for this request (after auth, before validation)."""
    sandbox: Sandbox = request.app.state.sandbox
    authorize(sandbox, request.headers.get("authorization", ""))
    await request.body()  # read it all, so the connection can be kept alive
    await sandbox.faults.serve(operation)


async def create_call(request: Request) -> JSONResponse:
    if faults.CALLS_CREATE in request.app.state.sandbox.faults.armed:
        await injected_fault(request, faults.CALLS_CREATE)
    params = await validated(request, CALLS_CREATE)
    rules.check_call_create(params)
    record = place_call(request.app.state.sandbox, params)
    return JSONResponse(record.to_twilio(), status_code=201)


async def list_calls(request: Request) -> JSONResponse:
    query = await validated(request, CALLS_LIST)
    sandbox: Sandbox = request.app.state.sandbox
    filters = {
        "to": query.get("To"),
        "from": query.get("From"),
        "status": query.get("Status"),
        "parent_call_sid": query.get("ParentCallSid"),
    }
    calls = [
        call.to_twilio()
        for call in reversed(sandbox.calls.values())
        if all(value is None or call.to_twilio()[key] == value for key, value in filters.items())
    ]
    return JSONResponse(page("calls", calls, request, query))


async def fetch_call(request: Request) -> JSONResponse:
    await validated(request, CALL_FETCH)
    record = request.app.state.sandbox.calls.get(request.path_params["Sid"])
    if record is None:
        raise errors.not_found(request.url.path)
    return JSONResponse(record.to_twilio())


async def change_call(request: Request) -> JSONResponse:
    params = await validated(request, CALL_UPDATE)
    rules.check_call_update(params)
    record = update_call(request.app.state.sandbox, request.path_params["Sid"], params)
    return JSONResponse(record.to_twilio())


async def create_message(request: Request) -> JSONResponse:
    if faults.MESSAGES_CREATE in request.app.state.sandbox.faults.armed:
        await injected_fault(request, faults.MESSAGES_CREATE)
    params = await validated(request, MESSAGES_CREATE)
    rules.check_message_create(params)
    record = send_message(request.app.state.sandbox, params)
    return JSONResponse(record.to_twilio(), status_code=201)


async def list_messages(request: Request) -> JSONResponse:
    query = await validated(request, MESSAGES_LIST)
    sandbox: Sandbox = request.app.state.sandbox
    messages = [m.to_twilio() for m in reversed(sandbox.messages.values())]
    return JSONResponse(page("messages", messages, request, query))


async def fetch_message(request: Request) -> JSONResponse:
    await validated(request, MESSAGE_FETCH)
    record = request.app.state.sandbox.messages.get(request.path_params["Sid"])
    if record is None:
        raise errors.not_found(request.url.path)
    return JSONResponse(record.to_twilio())


def page(
    key: str, items: list[dict[str, Any]], request: Request, query: dict[str, Any]
) -> dict[str, Any]:
    """One page holds everything up to PageSize; the sandbox never needs a second page."""
    size = int(query.get("PageSize", DEFAULT_PAGE_SIZE))
    uri = f"{request.url.path}?PageSize={size}&Page=0"
    return {
        key: items[:size],
        "start": 0,
        "end": max(0, min(size, len(items)) - 1),
        "page": 0,
        "page_size": size,
        "uri": uri,
        "first_page_uri": uri,
        "next_page_uri": None,
        "previous_page_uri": None,
    }


routes = [
    Route(f"{ACCOUNT}/Calls.json", create_call, methods=["POST"]),
    Route(f"{ACCOUNT}/Calls.json", list_calls, methods=["GET"]),
    Route(f"{ACCOUNT}/Calls/{{Sid}}.json", fetch_call, methods=["GET"]),
    Route(f"{ACCOUNT}/Calls/{{Sid}}.json", change_call, methods=["POST"]),
    Route(f"{ACCOUNT}/Messages.json", create_message, methods=["POST"]),
    Route(f"{ACCOUNT}/Messages.json", list_messages, methods=["GET"]),
    Route(f"{ACCOUNT}/Messages/{{Sid}}.json", fetch_message, methods=["GET"]),
]
