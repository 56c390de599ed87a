from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

# Ten concatenated SMS segments: carriers refuse longer bodies.
SMS_MAX_CHARS = 1600
MAX_DELAY_MINUTES = 366 * 24 * 60
TEMPLATE_DOC = (
    "Text with placeholders {first_name}, {last_name}, {full_name}, {rep_name} and {company}; "
    "any other {name} is refused."
)


class Channel(StrEnum):
    call = "call"
    sms = "sms"
    email = "email"


class StepIn(BaseModel):
    id: UUID | None = Field(
        default=None,
        description="On PUT, an existing step's id keeps that step (leads waiting for it keep "
        "waiting for it, re-timed); a step without one is new. Ignored on create.",
    )
    delay_minutes: int = Field(
        ge=0, le=MAX_DELAY_MINUTES, description="Minutes after the lead arrived."
    )
    channel: Channel
    template: str | None = Field(
        default=None,
        max_length=20000,
        description="Required for sms and email, refused for call. " + TEMPLATE_DOC,
    )
    subject: str | None = Field(
        default=None, max_length=300, description="Required for email, refused otherwise."
    )
    only_if_unreached: bool = Field(
        default=False,
        description="Run only if the lead has not been reached since the previous step.",
    )


class CadenceIn(BaseModel):
    """A whole cadence: create sends it, PUT replaces it (steps not sent are deleted)."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    is_default: bool | None = Field(
        default=None,
        description="true makes this the default cadence (sources without one, leads of a "
        "deleted cadence), taking the flag from the previous default. On PUT, null leaves it "
        "as it is; the default cannot be unset, only moved.",
    )
    steps: list[StepIn] = Field(
        min_length=1,
        max_length=100,
        description="Stored sorted by delay_minutes; each step needs its own minute.",
    )
    nurture_every_days: int | None = Field(
        default=None,
        ge=0,
        le=365,
        description="After the last step, one nurture touch every this many days, SMS and "
        "email in turn. null: the NURTURE_EVERY_DAYS setting; 0: no nurture.",
    )
    nurture_max_touches: int = Field(
        default=12, ge=0, le=1000, description="Nurture touches at most; 0: no nurture."
    )
    nurture_sms_template: str | None = Field(
        default=None,
        max_length=SMS_MAX_CHARS,
        description="null: the SMS nurture touches are skipped, and the lead's "
        "timeline says so. " + TEMPLATE_DOC,
    )
    nurture_email_subject: str | None = Field(
        default=None, max_length=300, description="Required with nurture_email_template."
    )
    nurture_email_template: str | None = Field(
        default=None,
        max_length=20000,
        description="null: the email nurture touches are skipped, and the lead's "
        "timeline says so. " + TEMPLATE_DOC,
    )


class StepOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID = Field(description="Stable across PUTs that send it back.")
    position: int = Field(description="Order within the cadence, assigned by the server.")
    delay_minutes: int
    channel: Channel
    template: str | None
    subject: str | None
    only_if_unreached: bool


class CadenceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    description: str | None
    is_default: bool
    nurture_every_days: int | None
    nurture_max_touches: int
    nurture_sms_template: str | None
    nurture_email_subject: str | None
    nurture_email_template: str | None
    version: int = Field(description="Raised by every PUT.")
    steps: list[StepOut] = Field(description="Sorted by delay_minutes, then position.")
    created_at: datetime
    updated_at: datetime


class CadenceList(BaseModel):
    data: list[CadenceOut]
