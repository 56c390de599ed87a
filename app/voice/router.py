"""TwiML and status callbacks for the carrier. Every request is checked with X-Twilio-Signature
against PUBLIC_BASE_URL, always: there is no switch to turn it off."""

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl
from uuid import UUID

import asyncpg
from arq.connections import ArqRedis
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator

from app.calls import outcomes
from app.config import get_settings
from app.db import (
    SessionDep,
    autocommit_connection,
    get_autocommit_pool,
    get_session,
    request_session,
)
from app.errors import Forbidden, InvalidField
from app.queue import enqueue_webhook_delivery, wake_after_commit
from app.voice import twiml

router = APIRouter(prefix="/twilio", tags=["carrier callbacks"], include_in_schema=False)


async def signed_params(request: Request) -> dict[str, str]:
    """The callback's form parameters, after proving the carrier sent them."""
    settings = get_settings()
    # Carrier callbacks are always url-encoded: parse_qsl is a fraction of the form parser's cost.
    # A repeated key keeps its last value, as the form parser's items() did.
    params = dict(parse_qsl((await request.body()).decode("latin-1"), keep_blank_values=True))
    url = settings.public_base_url.rstrip("/") + requested(request)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not carrier_signed(settings.carrier_auth_token, url, params, signature):
        raise Forbidden("The request is not signed by the carrier.", field="X-Twilio-Signature")
    return params


# What Starlette's URL escapes or drops in a path or query (see requested).
URL_ODDITIES = frozenset("#\\\t\r\n")


def requested(request: Request) -> str:
    """The path and query the carrier requested, as `request.url` gives them, read from the
    scope: building the URL object cost more than the HMAC. A path or query Starlette's URL
    would escape or cut is left to it."""
    path, query = request.scope["path"], request.scope["query_string"].decode()
    if "?" in path or not URL_ODDITIES.isdisjoint(path + query):
        path, query = request.url.path, request.url.query
    return f"{path}?{query}" if query else path


class Params(dict[str, str]):
    """Form parameters as the validator reads a MultiDict: for a plain dict it looks for
    `getall` and `getlist` first, and the two exceptions per parameter cost more than the
    HMAC."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


def carrier_signed(token: str, url: str, params: dict[str, str], signature: str) -> bool:
    """RequestValidator's verdict. The signature of the URL as the carrier requested it is
    checked first, and alone when it matches: validate() also tries the URL with and without
    its port, hashing twice, and only a mismatch needs its word."""
    validator = RequestValidator(token)
    signed = validator.compute_signature(url, Params(params))
    matches = hmac.compare_digest(signed.encode(), signature.encode())
    return matches or validator.validate(url, params, signature)


@dataclass
class Callback:
    """What every carrier callback works with: its signed parameters, a session, Redis."""

    params: dict[str, str]
    session: AsyncSession
    arq: ArqRedis


async def carrier_callback(request: Request, session: SessionDep) -> Callback:
    """One dependency (over the session's) rather than three: FastAPI spends a few hundred
    microseconds on each, and callbacks are most of the API's requests (ten or so per lead)."""
    return Callback(await signed_params(request), session, request.app.state.arq)


CallbackDep = Annotated[Callback, Depends(carrier_callback)]


def xml(document: str) -> Response:
    return Response(document, media_type="application/xml")


async def after_commit(call: Callback, follow: outcomes.FollowUps) -> None:
    await call.session.commit()
    await outcomes.enqueue_follow_ups(call.arq, follow)
    await wake_after_commit(call.arq, call.session)


# The voice routes below check their callback themselves rather than through FastAPI's
# dependency solving (SessionDep, CallbackDep, a validated query parameter): carrier callbacks
# are most of the API's requests, ten or so per lead, and solving cost more CPU per callback
# than its statement. Most of them are one statement, run on the autocommit pool with no
# session at all (statement_connection); the SMS callbacks, a few per lead at most, keep
# CallbackDep.
async def verified(request: Request) -> tuple[UUID, dict[str, str]]:
    """The attempt the callback is about and its parameters, signature checked first."""
    params = await signed_params(request)
    return attempt_of(request), params


def attempt_of(request: Request) -> UUID:
    """The `attempt` the dialer put in the callback's URL, refused as FastAPI refuses a bad
    UUID query parameter."""
    try:
        return UUID(request.query_params["attempt"])
    except (KeyError, ValueError) as exc:
        raise InvalidField("Input should be a valid UUID", field="attempt") from exc


@asynccontextmanager
async def statement_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """Where a callback that is one statement runs: a connection of the autocommit pool. With
    SessionDep overridden (the tests' savepoint), that session's own connection, committed as
    the pool's statement commits by itself, so the same statement is seen and rolled back with
    the rest of the test."""
    if request.app.dependency_overrides.get(get_session) is None:
        async with get_autocommit_pool().connection() as connection:
            yield connection
        return
    async with request_session(request) as session, autocommit_connection(session) as connection:
        yield connection


@asynccontextmanager
async def session_callback(request: Request, params: dict[str, str]) -> AsyncIterator[Callback]:
    """What CallbackDep gives, for a callback that needs the ORM."""
    async with request_session(request) as session:
        yield Callback(params, session, request.app.state.arq)


async def wake_for_events(request: Request, owed: bool) -> None:
    """After a statement that owes webhook deliveries: wake a sender (as wake_after_commit)."""
    if owed:
        await enqueue_webhook_delivery(request.app.state.arq)


NO_CONTENT = 204


@router.post("/voice/rep")
async def rep_answered(request: Request) -> Response:
    attempt, _ = await verified(request)
    async with statement_connection(request) as connection:
        offer = await outcomes.rep_answered(connection, attempt_id=attempt)
    if offer is None:
        return xml(twiml.goodbye("Another rep has taken this lead. Thank you."))
    settings = get_settings()
    choice = twiml.attempt_urls(settings.public_base_url.rstrip("/"), attempt)["choice"]
    return xml(twiml.whisper(offer, choice, settings.whisper_gather_seconds))


@router.post("/voice/choice")
async def rep_choice(request: Request) -> Response:
    attempt, params = await verified(request)
    digits = params.get("Digits", "")
    bridge = None
    if digits == "1":
        async with statement_connection(request) as connection:
            bridge = await outcomes.accept_offer(connection, attempt_id=attempt, digits=digits)
    if bridge is None:
        async with session_callback(request, params) as call:
            follow = await outcomes.pass_offer(call.session, attempt_id=attempt, digits=digits)
            await after_commit(call, follow)
        return xml(twiml.goodbye("Passing this lead on." if digits else None))
    follow = outcomes.bridge_follow_ups(bridge, attempt)
    await outcomes.enqueue_follow_ups(request.app.state.arq, follow)
    settings = get_settings()
    urls = twiml.attempt_urls(settings.public_base_url.rstrip("/"), attempt)
    return xml(
        twiml.bridge(
            bridge.lead_phone,
            bridge.caller_id or settings.caller_id,
            urls,
            settings.lead_ring_timeout_seconds,
        )
    )


@router.post("/voice/dial-result")
async def dial_result(request: Request) -> Response:
    attempt, params = await verified(request)
    async with statement_connection(request) as connection:
        found = await outcomes.dial_result(connection, attempt_id=attempt, params=params)
    settings = get_settings()
    if found is None or found.outcome != "connected" or found.disposition is not None:
        return xml(twiml.goodbye())
    urls = twiml.attempt_urls(settings.public_base_url.rstrip("/"), attempt)
    return xml(twiml.disposition_prompt(urls["disposition"], settings.whisper_gather_seconds))


@router.post("/voice/disposition")
async def disposition(request: Request) -> Response:
    attempt, params = await verified(request)
    async with statement_connection(request) as connection:
        recorded, owed = await outcomes.record_disposition(
            connection, attempt_id=attempt, digits=params.get("Digits", "")
        )
    await wake_for_events(request, owed)
    return xml(twiml.goodbye("Thank you." if recorded else None))


@router.post("/status/rep", status_code=NO_CONTENT)
async def rep_status(request: Request) -> Response:
    attempt, params = await verified(request)
    if params.get("CallStatus", "") not in outcomes.TERMINAL_STATUSES:
        async with statement_connection(request) as connection:
            owed = await outcomes.rep_progress(connection, attempt_id=attempt, params=params)
        await wake_for_events(request, owed)
        return Response(status_code=NO_CONTENT)
    async with session_callback(request, params) as call:
        follow = await outcomes.rep_status(call.session, attempt_id=attempt, params=params)
        await after_commit(call, follow)
    return Response(status_code=NO_CONTENT)


@router.post("/status/lead", status_code=NO_CONTENT)
async def lead_status(request: Request) -> Response:
    attempt, params = await verified(request)
    if not outcomes.is_machine(params):
        async with statement_connection(request) as connection:
            owed = await outcomes.lead_progress(connection, attempt_id=attempt, params=params)
        await wake_for_events(request, owed)
        return Response(status_code=NO_CONTENT)
    async with session_callback(request, params) as call:
        await outcomes.lead_status(call.session, attempt_id=attempt, params=params)
        await after_commit(call, outcomes.FollowUps())
    return Response(status_code=NO_CONTENT)
