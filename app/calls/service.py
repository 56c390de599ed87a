"""Reading attempts back: every offer, every status, with its timestamps."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.schemas import AttemptOut, Outcome
from app.leads.service import decode_cursor, encode_cursor, get_lead_row
from app.models import Attempt


@dataclass(frozen=True)
class AttemptFilters:
    lead_id: UUID | None = None
    rep_id: UUID | None = None
    outcome: Outcome | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


async def list_attempts(
    session: AsyncSession, *, filters: AttemptFilters, limit: int, cursor: str | None
) -> tuple[list[AttemptOut], str | None]:
    """Newest first, keyset-paginated on (created_at, id) like leads."""
    query = select(Attempt)
    for column, value in (
        (Attempt.lead_id, filters.lead_id),
        (Attempt.rep_id, filters.rep_id),
        (Attempt.outcome, filters.outcome),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.created_after is not None:
        query = query.where(Attempt.created_at >= filters.created_after)
    if filters.created_before is not None:
        query = query.where(Attempt.created_at < filters.created_before)
    if cursor is not None:
        created, attempt_id = decode_cursor(cursor)
        query = query.where(
            or_(
                Attempt.created_at < created,
                and_(Attempt.created_at == created, Attempt.id < attempt_id),
            )
        )
    query = query.order_by(Attempt.created_at.desc(), Attempt.id.desc()).limit(limit + 1)
    rows = list(await session.scalars(query))
    page = [AttemptOut.model_validate(row) for row in rows[:limit]]
    return page, encode_cursor(rows[limit - 1]) if len(rows) > limit else None


async def lead_attempts(session: AsyncSession, *, lead_id: UUID) -> list[AttemptOut]:
    await get_lead_row(session, lead_id=lead_id)
    rows = await session.scalars(
        select(Attempt).where(Attempt.lead_id == lead_id).order_by(Attempt.created_at, Attempt.id)
    )
    return [AttemptOut.model_validate(row) for row in rows]
