from typing import Annotated

from fastapi import APIRouter, Header, Request, status

from app.config import get_settings
from app.db import SessionDep
from app.deps import ArqDep
from app.intake import service
from app.leads.router import accept_and_dial
from app.leads.schemas import LeadAccepted
from app.sources.service import get_source

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
    openapi_extra=FORM_BODY_DOC,
)
async def receive_form(
    source: str,
    request: Request,
    session: SessionDep,
    arq: ArqDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    x_firstring_signature: Annotated[str | None, Header()] = None,
) -> LeadAccepted:
    """A form submission becomes a lead, committed before this answers, and is dialed at once."""
    settings = get_settings()
    body = await service.read_body(request, limit=settings.max_body_bytes)
    found = await get_source(session, slug=source)
    service.verify_signature(
        found, x_firstring_signature, body, tolerance=settings.signature_tolerance_seconds
    )
    payload = await service.parse_body(request.headers.get("content-type", ""), body)
    submission = service.submission_from(payload, found.field_map, idempotency_key)
    return await accept_and_dial(session, arq, found, submission)
