from uuid import UUID

from fastapi import APIRouter, status

from app.cadences import service
from app.cadences.schemas import CadenceIn, CadenceList, CadenceOut
from app.db import SessionDep
from app.deps import ApiKeyDep, WriteKeyDep

router = APIRouter(prefix="/v1/cadences", tags=["cadences"])


@router.get("", response_model=CadenceList)
async def list_cadences(session: SessionDep, _: ApiKeyDep) -> CadenceList:
    """Every cadence, the default first."""
    return CadenceList(data=await service.list_cadences(session))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CadenceOut)
async def create_cadence(data: CadenceIn, session: SessionDep, _: WriteKeyDep) -> CadenceOut:
    return await service.create_cadence(session, data=data)


@router.get("/{cadence_id}", response_model=CadenceOut)
async def get_cadence(cadence_id: UUID, session: SessionDep, _: ApiKeyDep) -> CadenceOut:
    return await service.get_cadence(session, cadence_id=cadence_id)


@router.put("/{cadence_id}", response_model=CadenceOut)
async def replace_cadence(
    cadence_id: UUID, data: CadenceIn, session: SessionDep, _: WriteKeyDep
) -> CadenceOut:
    """Replace the cadence. Steps sent with their id keep it; the others are new, and steps
    not sent are deleted. Leads following the cadence have their next touch re-planned in the
    same transaction, so no step fires twice and none due is lost."""
    return await service.replace_cadence(session, cadence_id=cadence_id, data=data)


@router.delete("/{cadence_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_cadence(cadence_id: UUID, session: SessionDep, _: WriteKeyDep) -> None:
    """Sources using it fall back to the default cadence; its leads go on with their source's
    cadence, else the default, from their next touch. The default cadence cannot be deleted
    (409): make another one the default first."""
    await service.delete_cadence(session, cadence_id=cadence_id)
