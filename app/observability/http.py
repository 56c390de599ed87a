"""The API's side: request ids, request durations and `GET /metrics`."""

import logging
import re
import time
import uuid
from urllib.parse import parse_qs

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import SessionDep
from app.observability import logs, metrics

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's request id is logged as given, so only ordinary id characters are taken.
ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if ACCEPTED_REQUEST_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


# Characters parse_qs splits on or decodes.
PARSED_CHARS = frozenset("&;%+")


def attempt_from(scope: Scope) -> str | None:
    """Carrier callbacks name their attempt in the query string (`?attempt=...`)."""
    query = scope.get("query_string", b"").decode("latin-1")
    values: list[str] | None
    if query.startswith("attempt=") and not PARSED_CHARS.intersection(query):
        values = [query[len("attempt=") :]]  # what parse_qs finds, for the carrier's own URLs
    else:
        values = parse_qs(query).get("attempt")
    try:
        return str(uuid.UUID(values[0])) if values else None
    except ValueError:
        return None


def route_of(scope: Scope) -> str:
    """The route template (`/v1/leads/{lead_id}`), so ids do not multiply the series."""
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


class RequestContextMiddleware:
    """Gives every request an id (X-Request-ID if the caller sent a usable one), logs under it,
    answers with it, and times the request by route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        tokens = [logs.request_id.set(request_id), logs.attempt_id.set(attempt_from(scope))]
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(tokens[0])
            logs.attempt_id.reset(tokens[1])
            metrics.HTTP_DURATION.labels(scope["method"], route_of(scope), str(status)).observe(
                time.perf_counter() - started
            )


async def metrics_endpoint(session: SessionDep) -> Response:
    """Prometheus exposition; the database gauges are read now, without blocking the loop."""
    try:
        await metrics.refresh_gauges(session)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("metrics: the database gauges could not be read: %s", exc)
        metrics.forget_gauges()
        await session.rollback()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """Request ids and durations on every request, `/metrics`, and masked logs."""
    logs.install_masking()
    app.add_middleware(RequestContextMiddleware)
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
