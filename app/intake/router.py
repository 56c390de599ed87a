from typing import Annotated
from uuid import uuid4

from fastapi import APIRouter, Header, Request, Response, status

from app.abuse.addresses import limited_address
from app.abuse.cors import cors_headers, errors_carry, preflight_headers
from app.abuse.service import admit, honeypot_filled
from app.config import get_settings
from app.db import SessionDep
from app.deps import ArqDep
from app.errors import documented_errors
from app.intake import service
from app.leads.router import accept_and_dial
from app.leads.schemas import LeadAccepted
from app.sources.service import get_source, get_source_for_intake

router = APIRouter(prefix="/hooks", tags=["intake"])

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


@router.post(
    "/forms/{source}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LeadAccepted,
    responses=documented_errors(403, 429),
    openapi_extra=FORM_BODY_DOC,
)
async def receive_form(
    source: str,
    request: Request,
    response: Response,
    session: SessionDep,
    arq: ArqDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    x_firstring_signature: Annotated[str | None, Header()] = None,
) -> LeadAccepted:
    """A form submission becomes a lead, committed before this answers, and is dialed at once."""
    settings = get_settings()
    body = await service.read_body(request, limit=settings.max_body_bytes)
    found = await get_source_for_intake(session, slug=source)
    cors = cors_headers(found, request.headers.get("origin"))
    response.headers.update(cors)
    with errors_carry(cors):
        service.verify_signature(
            found, x_firstring_signature, body, tolerance=settings.signature_tolerance_seconds
        )
        payload = await service.parse_body(request.headers.get("content-type", ""), body)
        submission = service.submission_from(payload, found.field_map, idempotency_key)
        if honeypot_filled(found, submission):  # answered like a lead, so bots learn nothing
            return LeadAccepted(lead_id=uuid4(), status="new", duplicate=False)
        # A signed post proves its sender holds the secret; form vendors send every customer's
        # webhooks from a few shared addresses, so only unsigned posts are limited per address.
        hops = settings.trusted_proxy_hops
        address = None if found.secret else limited_address(request, trusted_hops=hops)
        await admit(
            session, arq, source=found, submission=submission, address=address, settings=settings
        )
        return await accept_and_dial(session, arq, found, submission)


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
