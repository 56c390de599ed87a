"""The carrier's callbacks' own way in: the voice routes answered ahead of the routing.

Ten or so carrier requests come in per lead, and the exception middleware, the routing and
FastAPI's request handling cost each one about as much CPU as its statement. As the form
webhooks' dispatch (app.intake.dispatch), this middleware sits inside the request-id and
timing middleware, calls the route's own endpoint (each takes the request alone), and answers
a refusal with the app's own exception handlers. Anything else goes through unchanged.
"""

from collections.abc import Awaitable, Callable
from inspect import signature

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.intake.dispatch import handled
from app.voice.router import router

Endpoint = Callable[[Request], Awaitable[Response]]


def voice_routes() -> dict[str, tuple[APIRoute, Endpoint]]:
    """The voice POST routes whose endpoint takes the request alone (no parameter or
    dependency for FastAPI to solve), by path."""
    found: dict[str, tuple[APIRoute, Endpoint]] = {}
    for route in router.routes:
        if (
            isinstance(route, APIRoute)
            and route.methods == {"POST"}
            and route.path.startswith(("/twilio/voice/", "/twilio/status/"))
            and list(signature(route.endpoint).parameters) == ["request"]
            and not route.dependencies
        ):
            found[route.path] = (route, route.endpoint)
    return found


class CarrierCallbackDispatch:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes = voice_routes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.routes.get(scope["path"]) if is_plain_post(scope) else None
        if found is None:
            await self.app(scope, receive, send)
            return
        route, endpoint = found
        scope["route"] = route  # what the router would have set, for the metrics and logs
        scope["path_params"] = {}
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:
            response = await handled(scope["app"], request, exc)
        await response(scope, receive, send)


def is_plain_post(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path")
