from uuid import UUID

from fastapi import APIRouter, status

from app.apikeys import service
from app.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyOut
from app.db import SessionDep
from app.deps import AdminKeyDep

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(data: ApiKeyCreate, session: SessionDep, _: AdminKeyDep) -> ApiKeyCreated:
    api_key, plaintext = await service.create_api_key(session, name=data.name, scopes=data.scopes)
    return ApiKeyCreated.model_validate(
        {**ApiKeyOut.model_validate(api_key).model_dump(), "key": plaintext}
    )


@router.get("", response_model=ApiKeyList)
async def list_api_keys(session: SessionDep, _: AdminKeyDep) -> ApiKeyList:
    keys = await service.list_api_keys(session)
    return ApiKeyList(data=[ApiKeyOut.model_validate(k) for k in keys])


@router.delete("/{key_id}", response_model=ApiKeyOut)
async def revoke_api_key(key_id: UUID, session: SessionDep, _: AdminKeyDep) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await service.revoke_api_key(session, key_id=key_id))
