from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Outcome(StrEnum):
    connected = "connected"
    lead_no_answer = "lead_no_answer"
    lead_busy = "lead_busy"
    lead_voicemail = "lead_voicemail"
    rep_no_answer = "rep_no_answer"
    rep_declined = "rep_declined"
    rep_busy = "rep_busy"
    failed = "failed"
    canceled = "canceled"


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    lead_id: UUID
    rep_id: UUID | None
    ring_group: UUID
    routing: str
    status: str
    outcome: Outcome | None
    rep_call_sid: str | None
    lead_call_sid: str | None
    digits: str | None
    answered_by: str | None
    error: str | None
    carrier_retries: int
    queue_time_ms: int | None
    webhook_received_at: datetime
    job_started_at: datetime | None
    create_sent_at: datetime | None
    sid_returned_at: datetime | None
    rep_ringing_at: datetime | None
    rep_answered_at: datetime | None
    rep_accepted_at: datetime | None
    lead_answered_at: datetime | None
    ended_at: datetime | None
    ring_seconds: int | None
    talk_seconds: int | None
    total_seconds: int | None
    created_at: datetime


class AttemptPage(BaseModel):
    data: list[AttemptOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
