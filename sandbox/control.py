"""The sandbox's own control API (no auth): script phones, route our numbers' texts, text them,
inject faults, read the log, reset."""

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.faults import FaultPlan
from sandbox.inbound import IncomingText, receive_text
from sandbox.numbers import NumberConfig
from sandbox.phones import PhoneScript
from sandbox.rules import is_endpoint, is_phone_number
from sandbox.state import Sandbox


def sandbox_of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


async def put_phone(request: Request) -> JSONResponse:
    number = request.path_params["number"]
    if not is_endpoint(number):
        return JSONResponse({"error": f"{number} is not an E.164 number"}, status_code=422)
    try:
        script = PhoneScript.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        return JSONResponse({"error": exc.errors(include_url=False)}, status_code=422)
    sandbox_of(request).phones.set(number, script)
    return JSONResponse({"number": number, **script.model_dump()})


async def delete_phone(request: Request) -> JSONResponse:
    removed = sandbox_of(request).phones.remove(request.path_params["number"])
    return JSONResponse({"removed": removed}, status_code=200 if removed else 404)


async def list_phones(request: Request) -> JSONResponse:
    phones = sandbox_of(request).phones.all()
    return JSONResponse({number: script.model_dump() for number, script in phones.items()})


async def put_number(request: Request) -> JSONResponse:
    number = request.path_params["number"]
    if not is_phone_number(number):
        return JSONResponse({"error": f"{number} is not an E.164 number"}, status_code=422)
    try:
        config = NumberConfig.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        return JSONResponse({"error": errors}, status_code=422)
    sandbox_of(request).numbers.set(number, config)
    return JSONResponse({"number": number, **config.model_dump()})


async def delete_number(request: Request) -> JSONResponse:
    removed = sandbox_of(request).numbers.remove(request.path_params["number"])
    return JSONResponse({"removed": removed}, status_code=200 if removed else 404)


async def list_numbers(request: Request) -> JSONResponse:
    numbers = sandbox_of(request).numbers.all()
    return JSONResponse({number: config.model_dump() for number, config in numbers.items()})


async def text_a_number(request: Request) -> JSONResponse:
    """A person texts one of our numbers; the answer shows what the product replied."""
    try:
        text = IncomingText.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        return JSONResponse({"error": errors}, status_code=422)
    sandbox = sandbox_of(request)
    number = sandbox.numbers.get(text.to)
    if number is None:
        message = f"{text.to} has no sms_url: PUT /_sandbox/numbers/{text.to} first"
        return JSONResponse({"error": message}, status_code=404)
    return JSONResponse(await receive_text(sandbox, text, number))


async def put_faults(request: Request) -> JSONResponse:
    try:
        plan = FaultPlan.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)  # ctx holds exceptions
        return JSONResponse({"error": errors}, status_code=422)
    faults = sandbox_of(request).faults
    faults.set(plan)
    return JSONResponse(faults.view())


async def get_faults(request: Request) -> JSONResponse:
    return JSONResponse(sandbox_of(request).faults.view())


async def delete_faults(request: Request) -> JSONResponse:
    faults = sandbox_of(request).faults
    faults.clear()
    return JSONResponse(faults.view())


async def list_calls(request: Request) -> JSONResponse:
    to = request.query_params.get("to")
    calls = [c.to_log() for c in sandbox_of(request).calls.values() if to in (None, c.to)]
    return JSONResponse({"calls": calls})


async def get_call(request: Request) -> JSONResponse:
    record = sandbox_of(request).calls.get(request.path_params["sid"])
    if record is None:
        return JSONResponse({"error": "no such call"}, status_code=404)
    return JSONResponse(record.to_log())


async def list_messages(request: Request) -> JSONResponse:
    messages = [m.to_log() for m in sandbox_of(request).messages.values()]
    return JSONResponse({"messages": messages})


async def reset(request: Request) -> JSONResponse:
    await sandbox_of(request).reset()
    return JSONResponse({"reset": True})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "time_scale": sandbox_of(request).time_scale})


routes = [
    Route("/_sandbox/phones", list_phones, methods=["GET"]),
    Route("/_sandbox/phones/{number}", put_phone, methods=["PUT"]),
    Route("/_sandbox/phones/{number}", delete_phone, methods=["DELETE"]),
    Route("/_sandbox/numbers", list_numbers, methods=["GET"]),
    Route("/_sandbox/numbers/{number}", put_number, methods=["PUT"]),
    Route("/_sandbox/numbers/{number}", delete_number, methods=["DELETE"]),
    Route("/_sandbox/sms", text_a_number, methods=["POST"]),
    Route("/_sandbox/faults", get_faults, methods=["GET"]),
    Route("/_sandbox/faults", put_faults, methods=["PUT"]),
    Route("/_sandbox/faults", delete_faults, methods=["DELETE"]),
    Route("/_sandbox/calls", list_calls, methods=["GET"]),
    Route("/_sandbox/calls/{sid}", get_call, methods=["GET"]),
    Route("/_sandbox/messages", list_messages, methods=["GET"]),
    Route("/_sandbox/reset", reset, methods=["POST"]),
    Route("/_sandbox/health", health, methods=["GET"]),
]
