from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound
from app.models import Rep
from app.phones import to_e164
from app.reps.schemas import Availability, RepCreate, RepUpdate


async def get_rep(session: AsyncSession, *, rep_id: UUID) -> Rep:
    rep = await session.get(Rep, rep_id)
    if rep is None:
        raise NotFound(f"No rep {rep_id}.", field="rep_id")
    return rep


async def list_reps(
    session: AsyncSession, *, team: str | None = None, availability: Availability | None = None
) -> list[Rep]:
    query = select(Rep).order_by(Rep.name, Rep.id)
    if team is not None:
        query = query.where(Rep.team == team)
    if availability is not None:
        query = query.where(Rep.availability == availability)
    return list(await session.scalars(query))


async def ensure_phone_free(session: AsyncSession, *, phone: str, rep_id: UUID | None) -> None:
    taken = exists().where(Rep.phone == phone)
    if rep_id is not None:
        taken = taken.where(Rep.id != rep_id)
    if await session.scalar(select(taken)):
        raise Conflict(f"Another rep already has {phone}.", field="phone")


async def create_rep(session: AsyncSession, *, data: RepCreate) -> Rep:
    phone = to_e164(data.phone, region=data.region, field="phone")
    await ensure_phone_free(session, phone=phone, rep_id=None)
    rep = Rep(name=data.name, phone=phone, team=data.team, availability=data.availability)
    session.add(rep)
    await session.flush()
    await session.refresh(rep)
    return rep


async def update_rep(session: AsyncSession, *, rep_id: UUID, data: RepUpdate) -> Rep:
    rep = await get_rep(session, rep_id=rep_id)
    changes = data.model_dump(exclude_unset=True, exclude={"region"})
    # null for a column that cannot be empty means "unchanged", as if the field were left out
    changes = {k: v for k, v in changes.items() if v is not None or k == "availability_reason"}
    if data.phone is not None:
        changes["phone"] = to_e164(data.phone, region=data.region, field="phone")
        await ensure_phone_free(session, phone=changes["phone"], rep_id=rep.id)
    if "availability" in changes and changes["availability"] != rep.availability:
        changes["availability_changed_at"] = datetime.now(UTC)
        changes.setdefault("availability_reason", None)
    for key, value in changes.items():
        setattr(rep, key, value)
    await session.flush()
    await session.refresh(rep)
    return rep


async def delete_rep(session: AsyncSession, *, rep_id: UUID) -> None:
    await session.delete(await get_rep(session, rep_id=rep_id))
    await session.flush()
