from fastapi import APIRouter

from app.db import SessionDep
from app.deps import ApiKeyDep, WriteKeyDep
from app.sources.schemas import Slug
from app.teams import service
from app.teams.schemas import TeamIn, TeamList, TeamOut

router = APIRouter(prefix="/v1/teams", tags=["teams"])


@router.get("", response_model=TeamList)
async def list_teams(session: SessionDep, _: ApiKeyDep) -> TeamList:
    return TeamList(data=[TeamOut.model_validate(t) for t in await service.list_teams(session)])


@router.put("/{slug}", response_model=TeamOut)
async def put_team(slug: Slug, data: TeamIn, session: SessionDep, _: WriteKeyDep) -> TeamOut:
    return TeamOut.model_validate(await service.put_team(session, slug=slug, data=data))
