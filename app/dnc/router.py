from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from app.db import SessionDep
from app.deps import ApiKeyDep, WriteKeyDep
from app.dnc import service
from app.dnc.schemas import DncCreate, DncImportResult, DncOut, DncPage
from app.errors import AppError, documented_errors
from app.phones import to_e164

router = APIRouter(prefix="/v1/dnc", tags=["do not call"])
MAX_IMPORT_BYTES = 2 * 1024 * 1024
Region = Annotated[str, Query(pattern=r"^[A-Za-z]{2}$", description="For national numbers.")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DncOut)
async def add_number(data: DncCreate, session: SessionDep, _: WriteKeyDep) -> DncOut:
    phone = to_e164(data.phone, region=data.region, field="phone")
    await service.add(session, phone=phone, reason=data.reason)
    return DncOut.model_validate(await service.get(session, phone=phone))


@router.get("", response_model=DncPage)
async def list_numbers(
    session: SessionDep,
    _: ApiKeyDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> DncPage:
    rows = await service.page(session, limit=limit, after=cursor)
    next_cursor = rows[-1].phone if len(rows) == limit else None
    return DncPage(data=[DncOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{phone}", response_model=DncOut)
async def get_number(
    phone: str, session: SessionDep, _: ApiKeyDep, region: Region = "US"
) -> DncOut:
    e164 = to_e164(phone, region=region, field="phone")
    return DncOut.model_validate(await service.get(session, phone=e164))


@router.delete("/{phone}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_number(
    phone: str, session: SessionDep, _: WriteKeyDep, region: Region = "US"
) -> None:
    await service.remove(session, phone=to_e164(phone, region=region, field="phone"))


@router.post(
    "/import",
    response_model=DncImportResult,
    responses=documented_errors(413),
    openapi_extra={
        "requestBody": {
            "description": "CSV: a number per line, an optional reason in the second column.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def import_numbers(
    request: Request, session: SessionDep, _: WriteKeyDep, region: Region = "US"
) -> DncImportResult:
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise AppError(
            f"The CSV is over {MAX_IMPORT_BYTES} bytes.", status_code=413, code="payload_too_large"
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AppError("The CSV must be UTF-8.", code="malformed_body") from exc
    return await service.import_csv(session, text=text, region=region)
