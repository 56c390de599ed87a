from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.cadences import scheduler
from app.config import get_settings
from app.db import OpenSession, SessionDep
from app.deps import ApiKeyDep, ArqDep, WriteKeyDep
from app.leads import privacy, service, timeline
from app.leads.schemas import (
    LeadAccepted,
    LeadCreate,
    LeadOut,
    LeadPage,
    LeadStatus,
    LeadUpdate,
    Timeline,
)
from app.leads.service import Submission
from app.models import Source
from app.queue import enqueue_dial, enqueue_webhook_delivery, wake_after_commit
from app.sources.service import get_source
from app.webhooks.schemas import EventType
from app.webhooks.service import emit, lead_data

router = APIRouter(prefix="/v1/leads", tags=["leads"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=LeadAccepted)
async def create_lead(
    data: LeadCreate, session: SessionDep, arq: ArqDep, _: WriteKeyDep
) -> LeadAccepted:
    source = await get_source(session, slug=data.source)
    submission = Submission(
        phone_raw=data.phone,
        phone_field="phone",
        first_name=data.first_name,
        last_name=data.last_name,
        full_name=data.name,
        email=data.email,
        fields=data.fields,
    )
    return await accept_and_dial(session, arq, source, submission)


async def accept_and_dial(
    session: AsyncSession, arq: ArqDep, source: Source, submission: Submission
) -> LeadAccepted:
    """Commit first, then wake the dialer: an accepted lead must survive anything after this."""
    window = timedelta(seconds=get_settings().duplicate_window_seconds)
    slug = source.slug  # a duplicate rolls the transaction back, which expires `source`
    lead, duplicate = await service.accept_lead(
        session, source=source, submission=submission, duplicate_window=window
    )
    if duplicate:  # a new lead's lead.received was stored with it
        data = lead_data(lead, slug)
        await emit(session, type=EventType.lead_duplicate, data=data, lead_id=lead.id)
    due_in = (lead.dial_due_at - lead.received_at).total_seconds() if lead.dial_due_at else 0.0
    if not duplicate and due_in > 0:
        await scheduler.acknowledge_after_hours(session, lead, source)
    await session.commit()
    if not duplicate:
        await enqueue_dial(arq, lead.id, defer_seconds=due_in)
    await wake_after_commit(arq, session)
    return LeadAccepted(lead_id=lead.id, status=lead.status, duplicate=duplicate)


Connect = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]


async def accept_and_dial_now(
    open_session: OpenSession, connect: Connect, arq: ArqDep, source: Source, submission: Submission
) -> LeadAccepted:
    """accept_and_dial for the form intake: a new lead due now, nearly every one, is stored by
    one statement on its own connection from `connect`, committed when it returns; a
    duplicate, or a lead held for its calling hours (whose acknowledgement is stored with it),
    takes accept_and_dial's way through the session, opened only then."""
    window = timedelta(seconds=get_settings().duplicate_window_seconds)
    lead, claims = service.new_lead(source, submission, window)
    if lead.dial_due_at == lead.received_at:
        async with connect() as connection:
            stored, owed = await service.store_committed(
                connection, lead, claims=claims, source_slug=source.slug
            )
        if stored:
            await enqueue_dial(arq, lead.id)
            if owed:
                await enqueue_webhook_delivery(arq)
            return LeadAccepted(lead_id=lead.id, status=lead.status, duplicate=False)
    return await accept_and_dial(await open_session(), arq, source, submission)


@router.get("", response_model=LeadPage)
async def list_leads(
    session: SessionDep,
    _: ApiKeyDep,
    status: LeadStatus | None = None,
    source: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> LeadPage:
    filters = service.LeadFilters(status, source, created_after, created_before)
    page, next_cursor = await service.list_leads(
        session, filters=filters, limit=limit, cursor=cursor
    )
    return LeadPage(data=page, next_cursor=next_cursor)


@router.get("/{lead_id}", response_model=LeadOut)
async def get_lead(lead_id: UUID, session: SessionDep, _: ApiKeyDep) -> LeadOut:
    return await service.get_lead(session, lead_id=lead_id)


@router.patch("/{lead_id}", response_model=LeadOut)
async def update_lead(
    lead_id: UUID, data: LeadUpdate, session: SessionDep, arq: ArqDep, _: WriteKeyDep
) -> LeadOut:
    """Close the lead (converted, lost, closed: its follow-up stops at once) and/or switch the
    cadence it follows (a touch already waiting is re-planned from the new cadence)."""
    updated = await service.update_lead(session, lead_id=lead_id, data=data)
    await session.commit()
    await wake_after_commit(arq, session)  # the touch planned from a new cadence
    return updated


@router.get("/{lead_id}/timeline", response_model=Timeline)
async def lead_timeline(
    lead_id: UUID,
    session: SessionDep,
    _: ApiKeyDep,
    limit: Annotated[int, Query(ge=1, le=timeline.MAX_ITEMS)] = timeline.MAX_ITEMS,
) -> Timeline:
    """Every touch of the lead in time order: its arrival, each call offered to a rep, SMS and
    emails both ways, cadence touches skipped or canceled (with why), opt-outs, dispositions
    and status changes."""
    return await timeline.lead_timeline(session, lead_id=lead_id, limit=limit)


@router.delete("/{lead_id}", response_model=LeadOut)
async def erase_lead(lead_id: UUID, session: SessionDep, arq: ArqDep, _: WriteKeyDep) -> LeadOut:
    """Erase the lead's personal data (a request under GDPR/CCPA); its attempts stay, as
    anonymised statistics. Repeating it answers the same erased lead."""
    await privacy.erase_lead(session, lead_id=lead_id)
    erased = await service.get_lead(session, lead_id=lead_id)
    await session.commit()
    await wake_after_commit(arq, session)  # the lead.erased event
    return erased
