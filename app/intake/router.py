from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from uuid import uuid4

import asyncpg
from arq.connections import ArqRedis
from fastapi import APIRouter, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.abuse.addresses import limited_address
from app.abuse.cors import cors_headers, errors_carry, preflight_headers
from app.abuse.service import admit, honeypot_filled
from app.config import get_settings
from app.db import (
    OpenSession,
    SessionDep,
    driver_connection,
    get_autocommit_pool,
    get_session,
    request_session,
)
from app.errors import InvalidField, documented_errors
from app.intake import service
from app.leads.router import Connect, accept_and_dial_now
from app.leads.schemas import LeadAccepted
from app.sources.service import get_source, get_source_for_intake

router = APIRouter(prefix="/hooks", tags=["intake"])

IDEMPOTENCY_KEY_MAX = 200
JSON = "application/json"

FORM_BODY_DOC = {
    "requestBody": {
        "description": "Whatever the form tool sends: JSON, form-urlencoded or multipart, "
        "any field names. The phone, name and email are found by detection or the "
        "source's field_map.",
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            },
            "multipart/form-data": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            },
        },
    }
}


# The two headers the intake reads, documented as FastAPI documents Header() parameters: the
# route reads them itself (see receive_form).
HEADERS_DOC = {
    "parameters": [
        {
            "name": "idempotency-key",
            "in": "header",
            "required": False,
            "schema": {
                "anyOf": [{"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX}, {"type": "null"}],
                "title": "Idempotency-Key",
            },
        },
        {
            "name": "x-firstring-signature",
            "in": "header",
            "required": False,
            "schema": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "title": "X-Firstring-Signature",
            },
        },
    ]
}


@router.post(
    "/forms/{source}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LeadAccepted,
    responses=documented_errors(403, 429),
    openapi_extra={**HEADERS_DOC, **FORM_BODY_DOC},
)
async def receive_form(source: str, request: Request) -> Response:
    """A form submission becomes a lead, committed before this answers, and is dialed at once."""
    # The busiest route takes its session (only when it needs one), Redis and headers itself
    # rather than through FastAPI's dependency solving, and answers without the response
    # model's validation: that machinery cost more CPU than the source lookup and the insert.
    async with AsyncExitStack() as stack:
        open_session = LazySession(request, stack)
        accepted, cors = await receive(open_session, request.app.state.arq, source, request)
    body = accepted.model_dump_json().encode()
    return Response(body, status.HTTP_202_ACCEPTED, headers=cors, media_type=JSON)


async def receive(
    open_session: OpenSession, arq: ArqRedis, slug: str, request: Request
) -> tuple[LeadAccepted, dict[str, str]]:
    """What receive_form answers, and the CORS headers it answers with."""
    settings = get_settings()
    idempotency_key = idempotency_key_of(request)
    body = await service.read_body(request, limit=settings.max_body_bytes)
    found = await get_source_for_intake(open_session, slug=slug)
    cors = cors_headers(found, request.headers.get("origin"))
    with errors_carry(cors):
        service.verify_signature(
            found,
            request.headers.get(service.SIGNATURE_HEADER),
            body,
            tolerance=settings.signature_tolerance_seconds,
        )
        payload = await service.parse_body(request.headers.get("content-type", ""), body)
        submission = service.submission_from(payload, found.field_map, idempotency_key)
        if honeypot_filled(found, submission):  # answered like a lead, so bots learn nothing
            return LeadAccepted(lead_id=uuid4(), status="new", duplicate=False), cors
        # A signed post proves its sender holds the secret; form vendors send every customer's
        # webhooks from a few shared addresses, so only unsigned posts are limited per address.
        hops = settings.trusted_proxy_hops
        address = None if found.secret else limited_address(request, trusted_hops=hops)
        phone = await admit(
            open_session,
            arq,
            source=found,
            submission=submission,
            address=address,
            settings=settings,
        )
        submission = replace(submission, phone=phone)
        connect = store_connection(request, open_session)
        return await accept_and_dial_now(open_session, connect, arq, found, submission), cors


def idempotency_key_of(request: Request) -> str | None:
    """The Idempotency-Key header, refused as FastAPI refuses a Header(max_length=...)."""
    key = request.headers.get("idempotency-key")
    if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
        raise InvalidField(
            f"String should have at most {IDEMPOTENCY_KEY_MAX} characters",
            field="header.idempotency-key",
            code="invalid",
        )
    return key


class LazySession:
    """request_session's session, opened on the first call and closed with `stack`: a webhook
    whose source is cached and whose phone Redis proves under its cap needs none, and an
    unused session's open, commit and close cost a tenth of the webhook's CPU."""

    def __init__(self, request: Request, stack: AsyncExitStack) -> None:
        self.request, self.stack = request, stack
        self.session: AsyncSession | None = None

    async def __call__(self) -> AsyncSession:
        if self.session is None:
            self.session = await self.stack.enter_async_context(request_session(self.request))
        return self.session


def store_connection(request: Request, open_session: OpenSession) -> Connect:
    """Where a new lead is stored: the autocommit pool; with SessionDep overridden (the tests'
    savepoint), that session's own connection, committed as the pool's statement commits by
    itself, so what the intake stores is seen and rolled back with the rest of the test, by
    the same statement and the same code around it."""
    if request.app.dependency_overrides.get(get_session) is None:
        return get_autocommit_pool().connection

    @asynccontextmanager
    async def sessions_connection() -> AsyncIterator[asyncpg.Connection]:
        session = await open_session()
        yield await driver_connection(session)
        await session.commit()

    return sessions_connection


@router.options(
    "/forms/{source}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=documented_errors(403),
)
async def preflight_form(source: str, request: Request, session: SessionDep) -> Response:
    """CORS preflight: answered for an origin the source lists in `cors_origins`, else 403."""
    found = await get_source(session, slug=source)
    headers = preflight_headers(found, request.headers.get("origin"))
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)
