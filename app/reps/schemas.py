from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from app.sources.schemas import Slug


class Availability(StrEnum):
    available = "available"
    away = "away"
    offline = "offline"


class RepCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(min_length=3, max_length=40, description="Any format; stored as E.164.")
    region: str = Field(default="US", pattern=r"^[A-Za-z]{2}$", description="For national numbers.")
    team: Slug = "default"
    availability: Availability = Availability.available


class RepUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, min_length=3, max_length=40)
    region: str = Field(default="US", pattern=r"^[A-Za-z]{2}$")
    team: Slug | None = None
    availability: Availability | None = None
    availability_reason: str | None = Field(default=None, max_length=500)


class RepOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    phone: str
    team: str
    availability: Availability
    availability_reason: str | None
    availability_changed_at: datetime
    call_state: str = Field(description="idle, ringing (offered a lead) or on_call")
    missed_in_row: int
    idle_since: datetime
    created_at: datetime
    updated_at: datetime


class RepList(BaseModel):
    data: list[RepOut]
