from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.cadences import windows

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]
Origin = Annotated[str, StringConstraints(min_length=1, max_length=300)]
CANONICAL_FIELDS = ("phone", "email", "first_name", "last_name", "name")
MAX_SECRET_GRACE_SECONDS = 7 * 24 * 3600

ALLOWED_COUNTRIES_DOC = (
    "Regions (ISO 3166 alpha-2) whose numbers are called. Empty: the source's default_region "
    "only; null: any country. Premium-rate, toll-free and other non-personal numbers are "
    "refused whatever this says."
)
CORS_ORIGINS_DOC = (
    "Origins (`https://www.example.com`) whose pages may post to this source from the browser. "
    "When set, a browser post from any other origin is refused with 403."
)
HONEYPOT_DOC = (
    "A form field people never see; a submission that fills it is answered 202 like a lead "
    "but never stored or dialed."
)


CALLING_WINDOW_DOC = (
    "The lead's local calling window for calls and SMS, HH:MM in the lead's time zone (the end "
    "may be 24:00); set both or neither. null: CALLING_WINDOW_START/END. Either way the law "
    "where the lead is narrows it (US: 08:00-21:00, some states 20:00)."
)


def checked_start(value: str) -> str:
    windows.parse_hhmm(value)
    return value


def checked_end(value: str) -> str:
    windows.parse_hhmm(value, end=True)
    return value


# "HH:MM" on a 24-hour clock; an end may also be "24:00", the midnight that ends the day.
ClockStart = Annotated[str, AfterValidator(checked_start), Field(examples=["08:00"])]
ClockEnd = Annotated[str, AfterValidator(checked_end), Field(examples=["21:00"])]


class AfterHours(StrEnum):
    wait = "wait"
    call_now = "call_now"


class FollowUpFields(BaseModel):
    """How leads of the source are followed up (README "Cadences")."""

    cadence_id: UUID | None = Field(
        default=None, description="The cadence its leads follow; null: the default cadence."
    )
    company: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="{company} in message templates; null: the source's name.",
    )
    sms_from: str | None = Field(
        default=None, description="E.164 number SMS are sent from; null: caller_id, then CALLER_ID."
    )
    email_from: str | None = Field(
        default=None,
        max_length=320,
        description="Sender of emails, `Name <address>` or an address; null: EMAIL_FROM.",
    )
    calling_window_start: ClockStart | None = Field(default=None, description=CALLING_WINDOW_DOC)
    calling_window_end: ClockEnd | None = Field(default=None, description=CALLING_WINDOW_DOC)


class SourceCreate(FollowUpFields):
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
    allowed_countries: list[Region] | None = Field(
        default_factory=list, max_length=50, description=ALLOWED_COUNTRIES_DOC
    )
    cors_origins: list[Origin] = Field(
        default_factory=list, max_length=20, description=CORS_ORIGINS_DOC
    )
    honeypot_field: str | None = Field(
        default=None, min_length=1, max_length=100, description=HONEYPOT_DOC
    )
    sms_allowed: bool = Field(default=True, description="false: cadence SMS steps are skipped.")
    after_hours_policy: AfterHours = Field(
        default=AfterHours.wait,
        description="A lead arriving outside its calling window: wait for the window, or call now.",
    )


class SourceUpdate(FollowUpFields):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    default_region: Region | None = None
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    field_map: dict[str, str] | None = None
    team: Slug | None = None
    caller_id: str | None = None
    allowed_countries: list[Region] | None = Field(
        default=None, max_length=50, description=ALLOWED_COUNTRIES_DOC
    )
    cors_origins: list[Origin] | None = Field(
        default=None, max_length=20, description=CORS_ORIGINS_DOC
    )
    honeypot_field: str | None = Field(
        default=None, min_length=1, max_length=100, description=HONEYPOT_DOC
    )
    secret_grace_seconds: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SECRET_GRACE_SECONDS,
        description="How long the secret this request replaces keeps working (default "
        "SECRET_ROTATION_GRACE_SECONDS; 0 ends it now, e.g. after a leak). Without a new "
        "secret it shortens the running grace period.",
    )
    sms_allowed: bool | None = None
    after_hours_policy: AfterHours | None = None


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
    allowed_countries: list[str] | None
    cors_origins: list[str]
    honeypot_field: str | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret replaced by the last rotation still signs requests."
    )
    cadence_id: UUID | None = Field(description="null: the default cadence.")
    company: str | None
    sms_allowed: bool
    sms_from: str | None
    email_from: str | None
    calling_window_start: str | None
    calling_window_end: str | None
    after_hours_policy: AfterHours
    created_at: datetime
    updated_at: datetime


class SourceList(BaseModel):
    data: list[SourceOut]
