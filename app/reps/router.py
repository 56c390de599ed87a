from uuid import UUID

from fastapi import APIRouter, status

from app.db import SessionDep
from app.deps import ApiKeyDep, ArqDep, WriteKeyDep
from app.queue import enqueue_dial_waiting
from app.reps import service
from app.reps.schemas import Availability, RepCreate, RepList, RepOut, RepUpdate

router = APIRouter(prefix="/v1/reps", tags=["reps"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RepOut)
async def create_rep(data: RepCreate, session: SessionDep, arq: ArqDep, _: WriteKeyDep) -> RepOut:
    rep = RepOut.model_validate(await service.create_rep(session, data=data))
    await session.commit()
    if rep.availability == Availability.available:
        await enqueue_dial_waiting(arq, rep.team)
    return rep


@router.get("", response_model=RepList)
async def list_reps(
    session: SessionDep,
    _: ApiKeyDep,
    team: str | None = None,
    availability: Availability | None = None,
) -> RepList:
    reps = await service.list_reps(session, team=team, availability=availability)
    return RepList(data=[RepOut.model_validate(rep) for rep in reps])


@router.get("/{rep_id}", response_model=RepOut)
async def get_rep(rep_id: UUID, session: SessionDep, _: ApiKeyDep) -> RepOut:
    return RepOut.model_validate(await service.get_rep(session, rep_id=rep_id))


@router.patch("/{rep_id}", response_model=RepOut)
async def update_rep(
    rep_id: UUID, data: RepUpdate, session: SessionDep, arq: ArqDep, _: WriteKeyDep
) -> RepOut:
    rep = RepOut.model_validate(await service.update_rep(session, rep_id=rep_id, data=data))
    await session.commit()
    if data.availability == Availability.available and rep.call_state == "idle":
        await enqueue_dial_waiting(arq, rep.team)  # leads waiting for a rep get this one now
    return rep


@router.delete("/{rep_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rep(rep_id: UUID, session: SessionDep, _: WriteKeyDep) -> None:
    await service.delete_rep(session, rep_id=rep_id)
