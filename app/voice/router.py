"""TwiML and status callbacks for the carrier. Every request is checked with X-Twilio-Signature
against PUBLIC_BASE_URL, always: there is no switch to turn it off."""

from typing import Annotated
from urllib.parse import parse_qsl
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from twilio.request_validator import RequestValidator

from app.calls import outcomes
from app.config import get_settings
from app.db import SessionDep
from app.deps import ArqDep
from app.errors import Forbidden
from app.models import Lead, Source
from app.queue import (
    wake_after_commit,
)
from app.voice import twiml

router = APIRouter(prefix="/twilio", tags=["carrier callbacks"], include_in_schema=False)


async def signed_params(request: Request) -> dict[str, str]:
    """The callback's form parameters, after proving the carrier sent them."""
    settings = get_settings()
    # Carrier callbacks are always url-encoded: parse_qsl is a fraction of the form parser's cost.
    # A repeated key keeps its last value, as the form parser's items() did.
    params = dict(parse_qsl((await request.body()).decode("latin-1"), keep_blank_values=True))
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(settings.carrier_auth_token).validate(url, params, signature):
        raise Forbidden("The request is not signed by the carrier.", field="X-Twilio-Signature")
    return params


SignedParams = Annotated[dict[str, str], Depends(signed_params)]


def xml(document: str) -> Response:
    return Response(document, media_type="application/xml")


async def after_commit(session: SessionDep, arq: ArqDep, follow: outcomes.FollowUps) -> None:
    await session.commit()
    await outcomes.enqueue_follow_ups(arq, follow)
    await wake_after_commit(arq, session)


@router.post("/voice/rep")
async def rep_answered(attempt: UUID, params: SignedParams, session: SessionDep) -> Response:
    found, still_offered = await outcomes.rep_answered(session, attempt_id=attempt)
    if found is None or not still_offered:
        return xml(twiml.goodbye("Another rep has taken this lead. Thank you."))
    lead = await session.get(Lead, found.lead_id)
    assert lead is not None
    source = await session.get(Source, lead.source_id)
    assert source is not None
    base = get_settings().public_base_url.rstrip("/")
    choice = twiml.attempt_urls(base, found)["choice"]
    return xml(twiml.whisper(lead, source, choice, get_settings().whisper_gather_seconds))


@router.post("/voice/choice")
async def rep_choice(
    attempt: UUID, params: SignedParams, session: SessionDep, arq: ArqDep
) -> Response:
    found, accepted, follow = await outcomes.rep_choice(
        session, attempt_id=attempt, digits=params.get("Digits", "")
    )
    if found is None or not accepted:
        await after_commit(session, arq, follow)
        return xml(twiml.goodbye("Passing this lead on." if params.get("Digits") else None))
    lead = await session.get(Lead, found.lead_id)
    source = await session.get(Source, lead.source_id) if lead else None
    assert lead is not None and source is not None
    settings = get_settings()
    urls = twiml.attempt_urls(settings.public_base_url.rstrip("/"), found)
    document = twiml.bridge(
        lead, source.caller_id or settings.caller_id, urls, settings.lead_ring_timeout_seconds
    )
    await after_commit(session, arq, follow)
    return xml(document)


@router.post("/voice/dial-result")
async def dial_result(
    attempt: UUID, params: SignedParams, session: SessionDep, arq: ArqDep
) -> Response:
    found = await outcomes.dial_result(session, attempt_id=attempt, params=params)
    ask = found is not None and found.outcome == "connected" and found.disposition is None
    settings = get_settings()
    document = twiml.goodbye()
    if found is not None and ask:
        urls = twiml.attempt_urls(settings.public_base_url.rstrip("/"), found)
        document = twiml.disposition_prompt(urls["disposition"], settings.whisper_gather_seconds)
    await after_commit(session, arq, outcomes.FollowUps())
    return xml(document)


@router.post("/voice/disposition")
async def disposition(
    attempt: UUID, params: SignedParams, session: SessionDep, arq: ArqDep
) -> Response:
    recorded = await outcomes.record_disposition(
        session, attempt_id=attempt, digits=params.get("Digits", "")
    )
    await after_commit(session, arq, outcomes.FollowUps())
    return xml(twiml.goodbye("Thank you." if recorded else None))


@router.post("/status/rep", status_code=204)
async def rep_status(attempt: UUID, params: SignedParams, session: SessionDep, arq: ArqDep) -> None:
    follow = await outcomes.rep_status(session, attempt_id=attempt, params=params)
    await after_commit(session, arq, follow)


@router.post("/status/lead", status_code=204)
async def lead_status(
    attempt: UUID, params: SignedParams, session: SessionDep, arq: ArqDep
) -> None:
    await outcomes.lead_status(session, attempt_id=attempt, params=params)
    await after_commit(session, arq, outcomes.FollowUps())
