"""The form webhook's own way in: `POST /hooks/forms/{source}` answered ahead of the routing.

Form webhooks are most of the API's traffic, and the exception middleware, the routing through
every route before them and FastAPI's request handling cost a webhook more CPU than its
lead's insert. This middleware sits inside the request-id and timing middleware (so the route
keeps its request id, its duration metric and its log context), calls the route's own
endpoint, and answers a refusal with the app's own exception handlers, so the bodies and
statuses are the ones every other route gives. Anything else goes through unchanged.
"""

from collections.abc import Callable
from inspect import isawaitable
from typing import Any, cast

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.intake.router import receive_form, router

PREFIX = "/hooks/forms/"


class FormWebhookDispatch:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route = next(
            r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is receive_form
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slug = form_slug(scope)
        if slug is None:
            await self.app(scope, receive, send)
            return
        # What the router would have set: the metrics and logs name the route by its template.
        scope["route"] = self.route
        scope["path_params"] = {"source": slug}
        request = Request(scope, receive)
        try:
            response = await receive_form(slug, request)
        except Exception as exc:
            response = await handled(scope["app"], request, exc)
        await response(scope, receive, send)


def form_slug(scope: Scope) -> str | None:
    """The source of a form post (what the route's `{source}` matches), else None."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    slug = path[len(PREFIX) :]
    return slug if slug and "/" not in slug else None


async def handled(app: FastAPI, request: Request, exc: Exception) -> Response:
    """The app's answer to `exc`, as its exception middleware would give it; re-raised when
    no handler takes it (the server error middleware's 500)."""
    handler = handler_for(app, exc)
    if handler is None:
        raise exc
    response = handler(request, exc)
    return cast(Response, await response if isawaitable(response) else response)


def handler_for(app: FastAPI, exc: Exception) -> Callable[..., Any] | None:
    """The handler registered for the nearest class of `exc`, as Starlette looks it up."""
    for cls in type(exc).__mro__:
        if cls in app.exception_handlers:
            handler: Callable[..., Any] = app.exception_handlers[cls]
            return handler
    return None
