from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from app.calls import service
from app.calls.schemas import AttemptOut, AttemptPage, Outcome
from app.db import SessionDep
from app.deps import ApiKeyDep

router = APIRouter(tags=["attempts"])


@router.get("/v1/attempts", response_model=AttemptPage)
async def list_attempts(
    session: SessionDep,
    _: ApiKeyDep,
    rep_id: UUID | None = None,
    outcome: Outcome | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> AttemptPage:
    filters = service.AttemptFilters(None, rep_id, outcome, created_after, created_before)
    page, next_cursor = await service.list_attempts(
        session, filters=filters, limit=limit, cursor=cursor
    )
    return AttemptPage(data=page, next_cursor=next_cursor)


@router.get("/v1/leads/{lead_id}/attempts", response_model=list[AttemptOut])
async def lead_attempts(lead_id: UUID, session: SessionDep, _: ApiKeyDep) -> list[AttemptOut]:
    return await service.lead_attempts(session, lead_id=lead_id)
