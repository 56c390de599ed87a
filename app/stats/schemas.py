from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

SHARE = "Share of the leads in scope (0 to 1); null when there are none."
PERCENTILES = (
    "percentile_cont (interpolated) over the leads that have the event, in seconds (float, "
    "millisecond precision); leads without the event are left out; null when no lead has it."
)


class Bucket(StrEnum):
    hour = "hour"
    day = "day"


class Percentiles(BaseModel):
    p50: float | None
    p90: float | None
    p99: float | None


class CalledWithin(BaseModel):
    """Share of leads whose first call was placed at most N seconds after they were received."""

    s5: float | None = Field(description=f"Within 5 s. {SHARE} Leads never called count as not.")
    s60: float | None = Field(description=f"Within 60 s. {SHARE}")
    s300: float | None = Field(description=f"Within 300 s. {SHARE}")


class TouchCount(BaseModel):
    touches: str = Field(description="Attempts on the lead: '0' to '9', or '10+'.")
    leads: int


class Touches(BaseModel):
    distribution: list[TouchCount] = Field(
        description="Leads per number of attempts, always the 11 rows '0'..'9', '10+'."
    )
    median_reached: float | None = Field(
        description="Median attempts (percentile_cont 0.5) of leads with a connected attempt."
    )
    median_unreached: float | None = Field(
        description="Median attempts (percentile_cont 0.5) of leads without a connected attempt."
    )


class OutcomeCounts(BaseModel):
    """Attempts on the leads in scope (by any rep), by outcome."""

    connected: int
    lead_no_answer: int
    lead_busy: int
    lead_voicemail: int
    rep_no_answer: int
    rep_declined: int
    rep_busy: int
    failed: int
    canceled: int
    in_progress: int = Field(description="Attempts without an outcome yet.")


class LeadFigures(BaseModel):
    leads: int = Field(
        description="Leads received in the window (and bucket) matching the filters."
    )
    to_first_call: Percentiles = Field(
        description=f"received_at -> min(attempts.create_sent_at). {PERCENTILES}"
    )
    to_rep_answered: Percentiles = Field(
        description=f"received_at -> min(attempts.rep_answered_at). {PERCENTILES}"
    )
    to_lead_connected: Percentiles = Field(
        description="received_at -> min(lead_answered_at) over the lead's attempts with outcome "
        f"connected. {PERCENTILES}"
    )
    called_within: CalledWithin
    contacted: int = Field(description="Leads with at least one connected attempt.")
    contact_rate: float | None = Field(description=f"contacted / leads. {SHARE}")
    touches: Touches
    attempts: int = Field(description="Attempts on these leads, by any rep.")
    outcomes: OutcomeCounts


class BucketFigures(LeadFigures):
    start: datetime = Field(
        description="Start of the bucket: date_trunc of received_at in UTC; empty buckets "
        "are included."
    )


class SpeedToLead(LeadFigures):
    start: datetime = Field(alias="from", description="The window's start (inclusive).")
    end: datetime = Field(alias="to", description="The window's end (exclusive).")
    bucket: Bucket | None
    buckets: list[BucketFigures] = Field(
        description="The same figures per bucket of received_at, oldest first; empty without "
        "`bucket`."
    )


class RepFigures(BaseModel):
    id: UUID
    name: str
    team: str
    offered: int = Field(description="Attempts that offered a lead to this rep.")
    answered: int = Field(description="Attempts the rep's phone answered (rep_answered_at set).")
    accepted: int = Field(description="Attempts the rep accepted by pressing 1 (rep_accepted_at).")
    missed: int = Field(description="Attempts with outcome rep_no_answer or rep_busy.")
    connected: int = Field(description="Attempts with outcome connected.")
    talk_seconds: int = Field(description="Sum of the attempts' talk_seconds.")
    answer_seconds_p50: float | None = Field(
        description="Median (percentile_cont 0.5) of rep_answered_at - coalesce(rep_ringing_at, "
        "create_sent_at) over answered attempts, in seconds (millisecond precision)."
    )


class RepStats(BaseModel):
    start: datetime = Field(alias="from", description="The window's start (inclusive).")
    end: datetime = Field(alias="to", description="The window's end (exclusive).")
    data: list[RepFigures] = Field(description="Every rep matching the filters, by name.")
