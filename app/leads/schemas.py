from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class LeadStatus(StrEnum):
    new = "new"
    dialing = "dialing"
    waiting = "waiting"
    connected = "connected"
    connecting = "connecting"
    unreached = "unreached"
    do_not_call = "do_not_call"
    erased = "erased"


class LeadAccepted(BaseModel):
    lead_id: UUID
    status: str
    duplicate: bool


class LeadCreate(BaseModel):
    source: str = Field(description="Slug of the source the lead belongs to.")
    phone: str = Field(min_length=1, max_length=40)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=400)
    email: str | None = Field(default=None, max_length=320)
    fields: dict[str, str] = Field(default_factory=dict)


class LeadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    source: str
    status: str
    phone: str
    phone_raw: str
    phone_field: str | None
    first_name: str | None
    last_name: str | None
    full_name: str | None
    email: str | None
    fields: dict[str, Any] = Field(
        description="Every other form field; emptied RAW_PAYLOAD_RETENTION_DAYS after receipt."
    )
    received_at: datetime
    created_at: datetime
    updated_at: datetime
    fields_purged_at: datetime | None = Field(
        default=None, description="When `fields` was emptied by the retention job or an erasure."
    )
    erased_at: datetime | None = Field(
        default=None,
        description="When the lead's personal data was erased (`DELETE /v1/leads/{id}`).",
    )


class LeadPage(BaseModel):
    data: list[LeadOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
