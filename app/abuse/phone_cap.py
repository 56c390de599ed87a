"""At most PHONE_LEADS_PER_DAY new leads per phone in any 24 hours, counted in PostgreSQL."""

import math
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import AppError
from app.models import IntakeClaim, Lead

PHONE_CAP_PERIOD = timedelta(hours=24)


class PhoneCapReached(AppError):
    status_code = 429
    code = "phone_cap"


def claim_keys(phone: str, idempotency_key: str | None) -> list[str]:
    """The intake claims (app.leads.service) a repeat of an accepted submission would hit."""
    keys = [f"phone:{phone}"]
    if idempotency_key:
        keys.append(f"idempotency:{idempotency_key}")
    return keys


async def enforce_phone_cap(
    session: AsyncSession,
    *,
    phone: str,
    source_id: UUID,
    idempotency_key: str | None,
    cap: int,
    field: str,
) -> None:
    """Refuse a new lead for a phone that has `cap` leads in the last 24 hours. A repeat that
    would return an earlier lead (a live duplicate or idempotency claim) is never refused."""
    since = func.now() - PHONE_CAP_PERIOD
    repeat = exists().where(
        IntakeClaim.source_id == source_id,
        IntakeClaim.claim_key.in_(claim_keys(phone, idempotency_key)),
        IntakeClaim.expires_at >= func.now(),
    )
    query = select(func.count(), func.min(Lead.created_at), repeat.correlate(None)).where(
        Lead.phone == phone, Lead.created_at > since
    )
    count, oldest, is_repeat = (await session.execute(query)).one()
    if count < cap or is_repeat:
        return
    wait = (oldest + PHONE_CAP_PERIOD - datetime.now(UTC)).total_seconds()
    raise PhoneCapReached(
        f"{phone} has had {count} leads in the last 24 hours, the most one phone may have.",
        field=field,
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )
