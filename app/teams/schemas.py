from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Routing(StrEnum):
    longest_idle = "longest_idle"
    round_robin = "round_robin"
    simultaneous = "simultaneous"


class TeamIn(BaseModel):
    routing: Routing = Routing.longest_idle
    ring_group_size: int = Field(
        default=3, ge=1, le=10, description="Reps rung at once (simultaneous)."
    )


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    routing: Routing
    ring_group_size: int
    created_at: datetime
    updated_at: datetime


class TeamList(BaseModel):
    data: list[TeamOut]
