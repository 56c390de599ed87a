from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.cadences import windows
from app.sources.schemas import ClockEnd, ClockStart

EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]


class Routing(StrEnum):
    longest_idle = "longest_idle"
    round_robin = "round_robin"
    simultaneous = "simultaneous"


def checked_timezone(name: str) -> str:
    windows.parse_zone(name)
    return name


def checked_days(days: list[int]) -> list[int]:
    if len(set(days)) != len(days):
        raise ValueError("each weekday at most once")
    return sorted(days)


TimeZone = Annotated[str, AfterValidator(checked_timezone), Field(examples=["America/New_York"])]
Weekday = Annotated[int, Field(ge=1, le=7)]


class TeamIn(BaseModel):
    routing: Routing = Routing.longest_idle
    ring_group_size: int = Field(
        default=3, ge=1, le=10, description="Reps rung at once (simultaneous)."
    )
    timezone: TimeZone = Field(default="UTC", description="The zone of the shift's hours.")
    shift_start: ClockStart | None = Field(
        default=None,
        description="HH:MM when the shift starts, in `timezone`; set both ends or neither. "
        "null: always on shift.",
    )
    shift_end: ClockEnd | None = Field(
        default=None,
        description="HH:MM when the shift ends (24:00: midnight). An end before the start runs "
        "overnight into the next day; an end equal to the start makes a 24-hour shift.",
    )
    shift_days: Annotated[list[Weekday], AfterValidator(checked_days)] = Field(
        default_factory=lambda: list(EVERY_DAY),
        min_length=1,
        max_length=7,
        description="ISO weekdays (1 = Monday) a shift starts on. Cadence calls wait for "
        "the shift.",
    )


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    routing: Routing
    ring_group_size: int
    timezone: str
    shift_start: str | None
    shift_end: str | None
    shift_days: list[int]
    created_at: datetime
    updated_at: datetime


class TeamList(BaseModel):
    data: list[TeamOut]
