"""One error base and its handler, so every refusal has the same JSON shape."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.headers = headers


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class InvalidField(AppError):
    status_code = 422
    code = "invalid"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "unavailable"


def error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    error: dict[str, object] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


async def handle_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(
        error_body(exc.code, exc.message, exc.field), exc.status_code, headers=exc.headers
    )


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = ".".join(location) or None
    return JSONResponse(error_body("invalid", str(first.get("msg", "invalid value")), field), 422)


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
    code = codes.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None)
    )


# While PostgreSQL restarts, answer so that form tools and integrators retry, never a 500.
STORE_DOWN_RETRY_AFTER = "5"
STORE_DOWN_MESSAGE = "The database is unavailable; retry shortly."


def database_unavailable() -> ServiceUnavailable:
    """The refusal a lost or unreachable database gets, however it was reached."""
    return ServiceUnavailable(STORE_DOWN_MESSAGE, headers={"Retry-After": STORE_DOWN_RETRY_AFTER})


async def handle_store_down(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        error_body("unavailable", STORE_DOWN_MESSAGE),
        503,
        headers={"Retry-After": STORE_DOWN_RETRY_AFTER},
    )


async def handle_db_error(request: Request, exc: Exception) -> JSONResponse:
    """A lost connection surfaces as a generic DBAPIError; only that case is a 503."""
    assert isinstance(exc, DBAPIError)
    # SQLSTATE class 08 is "connection exception", 57P "the server is shutting down/starting".
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    lost = exc.connection_invalidated or isinstance(exc.orig, OSError | ConnectionError)
    if lost or sqlstate.startswith(("08", "57P")):
        return await handle_store_down(request, exc)
    # Class 22 is "data exception": a value PostgreSQL cannot store, e.g. a NUL character.
    if sqlstate.startswith("22"):
        detail = exc.orig.args[0] if exc.orig is not None and exc.orig.args else sqlstate
        return JSONResponse(error_body("invalid", f"A value cannot be stored: {detail}"), 422)
    raise exc


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, handle_app_error)
    # OSError covers a refused connection and, for a unix socket, the socket file being gone.
    for store_error in (OperationalError, InterfaceError, OSError):
        app.add_exception_handler(store_error, handle_store_down)
    app.add_exception_handler(DBAPIError, handle_db_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def documented_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error shape for the OpenAPI description, replacing FastAPI's default 422 body."""
    return {status: {"model": ErrorResponse} for status in statuses}
