from fastapi import APIRouter, status

from app.db import SessionDep
from app.deps import ApiKeyDep, WriteKeyDep
from app.models import Source
from app.sources import service
from app.sources.schemas import SourceCreate, SourceList, SourceOut, SourceUpdate

router = APIRouter(prefix="/v1/sources", tags=["sources"])


def source_out(source: Source) -> SourceOut:
    return SourceOut.model_validate(
        {**source.__dict__, "has_secret": bool(source.secret)}, from_attributes=False
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SourceOut)
async def create_source(data: SourceCreate, session: SessionDep, _: WriteKeyDep) -> SourceOut:
    return source_out(await service.create_source(session, data=data))


@router.get("", response_model=SourceList)
async def list_sources(session: SessionDep, _: ApiKeyDep) -> SourceList:
    return SourceList(data=[source_out(s) for s in await service.list_sources(session)])


@router.get("/{slug}", response_model=SourceOut)
async def get_source(slug: str, session: SessionDep, _: ApiKeyDep) -> SourceOut:
    return source_out(await service.get_source(session, slug=slug))


@router.patch("/{slug}", response_model=SourceOut)
async def update_source(
    slug: str, data: SourceUpdate, session: SessionDep, _: WriteKeyDep
) -> SourceOut:
    return source_out(await service.update_source(session, slug=slug, data=data))


@router.delete("/{slug}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_source(slug: str, session: SessionDep, _: WriteKeyDep) -> None:
    await service.delete_source(session, slug=slug)
