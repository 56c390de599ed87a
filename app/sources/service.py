from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidField, NotFound
from app.models import Lead, Source
from app.phones import is_known_region, to_e164
from app.sources.schemas import CANONICAL_FIELDS, SourceCreate, SourceUpdate


def check_source_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Refuse what pydantic cannot judge alone: unknown regions, map keys and caller IDs."""
    region = values.get("default_region")
    if region is not None:
        if not is_known_region(region):
            raise InvalidField(f"'{region}' is not a known region code", field="default_region")
        values["default_region"] = region.upper()
    for key in values.get("field_map") or {}:
        if key not in CANONICAL_FIELDS:
            allowed = ", ".join(CANONICAL_FIELDS)
            raise InvalidField(f"'{key}' cannot be mapped; use one of {allowed}", field="field_map")
    if values.get("caller_id"):
        values["caller_id"] = to_e164(values["caller_id"], region="US", field="caller_id")
    return values


async def get_source(session: AsyncSession, *, slug: str) -> Source:
    source = await session.scalar(select(Source).where(Source.slug == slug))
    if source is None:
        raise NotFound(f"No source '{slug}'.", field="source")
    return source


async def list_sources(session: AsyncSession) -> list[Source]:
    return list(await session.scalars(select(Source).order_by(Source.slug)))


async def create_source(session: AsyncSession, *, data: SourceCreate) -> Source:
    if await session.scalar(select(exists().where(Source.slug == data.slug))):
        raise Conflict(f"A source '{data.slug}' already exists.", field="slug")
    source = Source(**check_source_fields(data.model_dump()))
    session.add(source)
    await session.flush()
    await session.refresh(source)
    return source


async def update_source(session: AsyncSession, *, slug: str, data: SourceUpdate) -> Source:
    source = await get_source(session, slug=slug)
    for key, value in check_source_fields(data.model_dump(exclude_unset=True)).items():
        setattr(source, key, value)
    await session.flush()
    await session.refresh(source)
    return source


async def delete_source(session: AsyncSession, *, slug: str) -> None:
    source = await get_source(session, slug=slug)
    if await session.scalar(select(exists().where(Lead.source_id == source.id))):
        raise Conflict(f"Source '{slug}' has leads; it cannot be deleted.", field="source")
    await session.delete(source)
    await session.flush()
