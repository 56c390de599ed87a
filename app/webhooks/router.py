from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from app.config import get_settings
from app.db import SessionDep
from app.deps import AdminKeyDep, ArqDep
from app.queue import enqueue_webhook_delivery
from app.webhooks import service
from app.webhooks.schemas import (
    DeliveryList,
    DeliveryOut,
    EndpointCreate,
    EndpointCreated,
    EndpointList,
    EndpointOut,
    EndpointUpdate,
    SecretRotation,
)

router = APIRouter(tags=["webhooks"])
ENDPOINTS = "/v1/webhook-endpoints"


@router.post(ENDPOINTS, status_code=status.HTTP_201_CREATED, response_model=EndpointCreated)
async def create_endpoint(
    data: EndpointCreate, session: SessionDep, _: AdminKeyDep
) -> EndpointCreated:
    return EndpointCreated.model_validate(await service.create_endpoint(session, data=data))


@router.get(ENDPOINTS, response_model=EndpointList)
async def list_endpoints(session: SessionDep, _: AdminKeyDep) -> EndpointList:
    endpoints = await service.list_endpoints(session)
    return EndpointList(data=[EndpointOut.model_validate(e) for e in endpoints])


@router.get(ENDPOINTS + "/{endpoint_id}", response_model=EndpointOut)
async def get_endpoint(endpoint_id: UUID, session: SessionDep, _: AdminKeyDep) -> EndpointOut:
    return EndpointOut.model_validate(await service.get_endpoint(session, endpoint_id=endpoint_id))


@router.patch(ENDPOINTS + "/{endpoint_id}", response_model=EndpointOut)
async def update_endpoint(
    endpoint_id: UUID, data: EndpointUpdate, session: SessionDep, _: AdminKeyDep
) -> EndpointOut:
    endpoint = await service.update_endpoint(session, endpoint_id=endpoint_id, data=data)
    return EndpointOut.model_validate(endpoint)


@router.delete(ENDPOINTS + "/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_endpoint(endpoint_id: UUID, session: SessionDep, _: AdminKeyDep) -> None:
    await service.delete_endpoint(session, endpoint_id=endpoint_id)


@router.post(ENDPOINTS + "/{endpoint_id}/rotate-secret", response_model=EndpointCreated)
async def rotate_secret(
    endpoint_id: UUID, session: SessionDep, _: AdminKeyDep, data: SecretRotation | None = None
) -> EndpointCreated:
    """A new secret, shown only in this answer; the old one keeps signing beside it for the
    grace period (`FirstRing-Signature` then carries a `v1` for each)."""
    asked = data.grace_seconds if data is not None else None
    seconds = get_settings().webhook_secret_rotation_grace_seconds if asked is None else asked
    endpoint = await service.rotate_secret(
        session, endpoint_id=endpoint_id, grace=timedelta(seconds=seconds)
    )
    return EndpointCreated.model_validate(endpoint)


@router.get(ENDPOINTS + "/{endpoint_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    endpoint_id: UUID,
    session: SessionDep,
    _: AdminKeyDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryList:
    data = await service.list_deliveries(session, endpoint_id=endpoint_id, limit=limit)
    return DeliveryList(data=data)


@router.post("/v1/webhook-deliveries/{delivery_id}/redeliver", response_model=DeliveryOut)
async def redeliver(
    delivery_id: UUID, session: SessionDep, arq: ArqDep, _: AdminKeyDep
) -> DeliveryOut:
    delivery = await service.redeliver(session, delivery_id=delivery_id)
    await session.commit()
    await enqueue_webhook_delivery(arq)
    return delivery
