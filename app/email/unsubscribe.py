"""One-click unsubscribe: what the signed link in every email's footer and List-Unsubscribe
header does. Kept apart from sending, so the cadence scheduler can use the sender while this
module uses the scheduler's opt-out."""

from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.cadences import scheduler
from app.cadences.templates import company_name
from app.models import Lead, Source

UNSUBSCRIBE_REASON = "email_unsubscribe"


async def unsubscribe_company(session: AsyncSession, *, lead_id: UUID) -> str | None:
    """The company the link unsubscribes from, or None when the lead is gone."""
    found = await session.execute(
        select(Source).join(Lead, Lead.source_id == Source.id).where(Lead.id == lead_id)
    )
    source = found.scalar_one_or_none()
    return None if source is None else company_name(source)


async def unsubscribe(session: AsyncSession, *, lead_id: UUID) -> str | None:
    """Opt out the lead and every other lead with the same email address, and return the
    company, or None when the lead is gone. Same address, any source: a person who filled in
    two forms asked once to hear nothing more, and honouring an opt-out too widely is safe
    where too narrowly is not. Leads already opted out (or erased) are left alone, so a
    repeat changes nothing."""
    company = await unsubscribe_company(session, lead_id=lead_id)
    if company is None:
        return None
    for lead in await leads_of_same_person(session, lead_id=lead_id):
        await scheduler.opt_out(session, lead, reason=UNSUBSCRIBE_REASON)
    return company


async def leads_of_same_person(session: AsyncSession, *, lead_id: UUID) -> list[Lead]:
    """The lead and those sharing its email address, still to be opted out, locked: a
    concurrent unsubscribe waits, then finds them opted out and skips them."""
    address = func.nullif(func.lower(func.trim(Lead.email)), "")  # "" is no address
    email = select(address).where(Lead.id == lead_id).scalar_subquery()
    same_person = (Lead.id == lead_id) | (address == email)
    found = await session.scalars(
        select(Lead)
        .where(same_person, Lead.opted_out_at.is_(None), Lead.erased_at.is_(None))
        .order_by(Lead.id)  # one lock order, so two unsubscribes never deadlock
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(found.all())
