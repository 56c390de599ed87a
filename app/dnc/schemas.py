from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class DncCreate(BaseModel):
    phone: str = Field(min_length=3, max_length=40, description="Any format; stored as E.164.")
    region: str = Field(default="US", pattern=r"^[A-Za-z]{2}$", description="For national numbers.")
    reason: str | None = Field(default=None, max_length=500)


class DncOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    phone: str
    reason: str | None
    added_by: str
    created_at: datetime


class DncPage(BaseModel):
    data: list[DncOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class DncImportResult(BaseModel):
    added: int = Field(description="Numbers newly on the list.")
    already_listed: int
    rejected: list[dict[str, str]] = Field(
        description="Lines that were not valid numbers, with why."
    )
