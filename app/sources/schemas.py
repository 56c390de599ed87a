from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]
CANONICAL_FIELDS = ("phone", "email", "first_name", "last_name", "name")


class SourceCreate(BaseModel):
    slug: Slug
    name: str = Field(min_length=1, max_length=200)
    default_region: Region = "US"
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    field_map: dict[str, str] = Field(
        default_factory=dict,
        description="Canonical field (phone, email, first_name, last_name, name) -> "
        "the form's field name or label. Wins over detection.",
    )
    team: Slug = "default"
    caller_id: str | None = Field(default=None, description="E.164 number the lead sees.")


class SourceUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    default_region: Region | None = None
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    field_map: dict[str, str] | None = None
    team: Slug | None = None
    caller_id: str | None = None


class SourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    slug: str
    name: str
    default_region: str
    has_secret: bool
    field_map: dict[str, str]
    team: str
    caller_id: str | None
    created_at: datetime
    updated_at: datetime


class SourceList(BaseModel):
    data: list[SourceOut]
