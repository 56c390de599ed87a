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
    opted_out = "opted_out"
    converted = "converted"
    lost = "lost"
    closed = "closed"


class ClosingStatus(StrEnum):
    """What an integrator may set: the lead's end, which stops its follow-up."""

    converted = "converted"
    lost = "lost"
    closed = "closed"


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


class LeadUpdate(BaseModel):
    status: ClosingStatus | None = Field(
        default=None,
        description="Close the lead: its follow-up stops at once. null or left out: unchanged.",
    )
    cadence_id: UUID | None = Field(
        default=None,
        description="Switch the lead to this cadence; a touch already waiting is re-planned "
        "from it. null or left out: unchanged.",
    )


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
    cadence_id: UUID | None = Field(default=None, description="The cadence the lead follows.")
    cadence_state: str | None = Field(
        default=None, description="active, nurture, stopped or done; null before it starts."
    )
    cadence_stop_reason: str | None = Field(
        default=None, description="Why the cadence stopped, e.g. `lead converted`, `opted out`."
    )
    opted_out_at: datetime | None = Field(
        default=None, description="When the lead asked not to be contacted (e.g. replied STOP)."
    )
    disposition: str | None = Field(
        default=None,
        description="What the rep keyed after the last call: interested, not_interested, "
        "call_back or wrong_number.",
    )
    disposition_at: datetime | None = None


class LeadPage(BaseModel):
    data: list[LeadOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class TimelineType(StrEnum):
    received = "received"
    call = "call"
    message = "message"
    step_skipped = "step_skipped"
    step_canceled = "step_canceled"
    opted_out = "opted_out"
    disposition = "disposition"
    status_changed = "status_changed"


class TimelineItem(BaseModel):
    """One touch of the lead, or one turn in its story.

    `details` by `type`:
    - `received`: `source` (slug), `source_name`.
    - `call` (one offer of the lead to one rep; `at` is when the call was placed): `attempt_id`,
      `rep_id`, `rep_name`, `status`, `outcome`, `answered_by`, `disposition`, `ring_seconds`,
      `talk_seconds`, `total_seconds`, `rep_answered_at`, `lead_answered_at`, `ended_at`,
      `error`.
    - `message` (an SMS or email, `direction` out or in): `message_id`, `status` (queued, sent,
      delivered, undelivered, failed; received), `from`, `to`, `subject`, `body`, `error`,
      `rep_id`, `lead_step_id`.
    - `step_skipped`, `step_canceled` (a cadence touch that did not happen; `at` is when that
      was decided): `lead_step_id`, `step_id`, `cadence_id`, `kind` (step, nurture, ack),
      `due_at`, `result` (why).
    - `opted_out`: `reason`.
    - `disposition` (what the rep keyed after a call): `disposition`, `attempt_id`, `rep_id`.
    - `status_changed` (set through `PATCH /v1/leads/{id}`): `status`, `previous_status`.
    """

    at: datetime
    type: TimelineType
    channel: str | None = Field(description="call, sms or email; null for other items.")
    direction: str | None = Field(description="out (to the lead) or in (from the lead); else null.")
    summary: str = Field(description="One line for a person to read.")
    details: dict[str, Any]


class Timeline(BaseModel):
    """Every touch of a lead in time order, oldest first: at most the most recent `limit`."""

    lead_id: UUID
    items: list[TimelineItem]
    truncated: bool = Field(description="true when older items were left out.")
