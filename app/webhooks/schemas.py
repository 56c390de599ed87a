from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

MAX_SECRET_GRACE_SECONDS = 7 * 24 * 3600


class EventType(StrEnum):
    lead_received = "lead.received"
    lead_duplicate = "lead.duplicate"
    lead_waiting = "lead.waiting"
    call_rep_ringing = "call.rep_ringing"
    call_connected = "call.connected"
    attempt_completed = "attempt.completed"
    lead_exhausted = "lead.exhausted"
    lead_opted_out = "lead.opted_out"
    lead_disposition = "lead.disposition"
    lead_erased = "lead.erased"
    lead_status_changed = "lead.status_changed"


class EndpointCreate(BaseModel):
    url: AnyHttpUrl
    description: str | None = Field(default=None, max_length=500)
    event_types: list[EventType] = Field(default_factory=list, description="Empty: every type.")


class EndpointUpdate(BaseModel):
    url: AnyHttpUrl | None = None
    description: str | None = Field(default=None, max_length=500)
    event_types: list[EventType] | None = None
    enabled: bool | None = None


class EndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    url: str
    description: str | None
    event_types: list[EventType]
    enabled: bool
    previous_secret_expires_at: datetime | None = Field(
        default=None,
        description="Until when the secret replaced by the last rotation also signs deliveries.",
    )
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="Signs every delivery. Shown only in this response.")


class SecretRotation(BaseModel):
    grace_seconds: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SECRET_GRACE_SECONDS,
        description="How long the replaced secret keeps signing deliveries beside the new one "
        "(default WEBHOOK_SECRET_ROTATION_GRACE_SECONDS; 0 ends it now, e.g. after a leak).",
    )


class EndpointList(BaseModel):
    data: list[EndpointOut]


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    event_id: UUID
    event_type: str
    endpoint_id: UUID
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    history: list[AttemptOut]


class DeliveryList(BaseModel):
    data: list[DeliveryOut]


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    type: str
    lead_id: UUID | None
    data: dict[str, Any]
    created_at: datetime
