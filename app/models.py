"""The schema. PostgreSQL is the source of truth; every table here has an Alembic migration."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
        dict[str, str]: JSONB,
        uuid.UUID: UUID(as_uuid=True),
    }


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{admin}")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Source(Timestamps, Base):
    """A web form (or family of forms) that sends leads, and how to read what it sends."""

    __tablename__ = "sources"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_region: Mapped[str] = mapped_column(String(2), server_default="US")
    secret: Mapped[str | None] = mapped_column(Text)
    field_map: Mapped[dict[str, str]] = mapped_column(server_default=text("'{}'::jsonb"))
    team: Mapped[str] = mapped_column(String(100), server_default="default", index=True)
    caller_id: Mapped[str | None] = mapped_column(String(20))
    # Abuse protection (README "Abuse protection"). Countries whose numbers are called: empty
    # means the source's default_region only; NULL means any country (number types still apply).
    allowed_countries: Mapped[list[str] | None] = mapped_column(ARRAY(String(2)))
    cors_origins: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    honeypot_field: Mapped[str | None] = mapped_column(Text)
    # The secret replaced by a rotation keeps signing valid requests until this time.
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]
    # Follow-up (README "Cadences"). NULL cadence = the default cadence.
    cadence_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cadences.id", ondelete="SET NULL")
    )
    company: Mapped[str | None] = mapped_column(Text)  # {company} in templates; else `name`
    sms_allowed: Mapped[bool] = mapped_column(server_default="true")
    sms_from: Mapped[str | None] = mapped_column(String(20))  # else caller_id, then CALLER_ID
    email_from: Mapped[str | None] = mapped_column(Text)  # else EMAIL_FROM
    # The lead's local calling window ("HH:MM"); NULL = the region's rule or the default.
    calling_window_start: Mapped[str | None] = mapped_column(String(5))
    calling_window_end: Mapped[str | None] = mapped_column(String(5))
    # A lead arriving outside its calling window: "wait" for the window or "call_now".
    after_hours_policy: Mapped[str] = mapped_column(String(10), server_default="wait")


# Every call rewrites its lead's, attempt's and rep's rows several times in its first seconds
# (ten or so updates a lead). Room left on each page keeps such an update on the row's page
# and, when no indexed column changes, out of every index (a HOT update); a full page moves
# the row and writes a new entry into each of the table's indexes (0013).
UPDATED_IN_PLACE = {"postgresql_with": {"fillfactor": 70}}


class Rep(Timestamps, Base):
    """A person who answers the phone and is bridged to leads."""

    __tablename__ = "reps"
    __table_args__ = (
        # A round's claim: the team's free reps in routing order (app.calls.dialer, 0012).
        Index(
            "ix_reps_free_longest_idle",
            "team",
            "idle_since",
            "id",
            postgresql_where=text("availability = 'available' AND call_state = 'idle'"),
        ),
        Index(
            "ix_reps_free_round_robin",
            "team",
            text("last_offered_at NULLS FIRST"),
            "id",
            postgresql_where=text("availability = 'available' AND call_state = 'idle'"),
        ),
        UPDATED_IN_PLACE,
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    team: Mapped[str] = mapped_column(String(100), server_default="default", index=True)
    availability: Mapped[str] = mapped_column(String(20), server_default="available")
    availability_reason: Mapped[str | None] = mapped_column(Text)
    availability_changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Call state, separate from availability: idle, ringing (offered a lead) or on_call.
    call_state: Mapped[str] = mapped_column(String(20), server_default="idle")
    current_attempt_id: Mapped[uuid.UUID | None]
    # A claim whose call never reports back is released by the sweeper after this.
    claim_expires_at: Mapped[datetime | None]
    idle_since: Mapped[datetime] = mapped_column(server_default=func.now())
    last_offered_at: Mapped[datetime | None]
    missed_in_row: Mapped[int] = mapped_column(server_default="0")


# The UTC day and hour of a lead's receipt, as app/stats/service.py buckets them.
UTC_DAY = "date_bin('1 day'::interval, received_at, '2000-01-01 00:00:00+00'::timestamptz)"
UTC_HOUR = "date_bin('1 hour'::interval, received_at, '2000-01-01 00:00:00+00'::timestamptz)"


def seconds_since_received(column: str) -> Any:
    return mapped_column(
        Float,
        Computed(f"date_part('epoch', {column} - received_at)", persisted=True),
        deferred=True,
    )


class Lead(Timestamps, Base):
    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_created_at_id", "created_at", "id"),
        Index("ix_leads_received_at", "received_at"),
        Index(
            "ix_leads_dial_due_at", "dial_due_at", postgresql_where=text("dial_due_at IS NOT NULL")
        ),
        # The retention job's work list: only leads whose form fields are still kept.
        Index(
            "ix_leads_received_at_unpurged",
            "received_at",
            postgresql_where=text("fields_purged_at IS NULL"),
        ),
        # A window of leads in bucket order (UTC day, hour) with what speed to lead reads, so
        # the percentiles by day or hour need no sort first (migration 0011).
        Index(
            "ix_leads_received_buckets",
            text(f"({UTC_DAY})"),
            text(f"({UTC_HOUR})"),
            "received_at",
            postgresql_include=[
                "id",
                "source_id",
                "touches",
                "first_call_seconds",
                "rep_answered_seconds",
                "connected_seconds",
            ],
        ),
        UPDATED_IN_PLACE,
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sources.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), server_default="new", index=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    phone_raw: Mapped[str] = mapped_column(Text)
    phone_field: Mapped[str | None] = mapped_column(Text)
    first_name: Mapped[str | None] = mapped_column(Text)
    last_name: Mapped[str | None] = mapped_column(Text)
    full_name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[dict[str, str]] = mapped_column(server_default=text("'{}'::jsonb"))
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Set while a dial is owed; the sweeper re-enqueues any lead whose job Redis lost.
    dial_due_at: Mapped[datetime | None]
    dial_job_started_at: Mapped[datetime | None]
    # The ring group (one attempt, or several for simultaneous ring) offering the lead right now.
    live_ring_group: Mapped[uuid.UUID | None]
    accepted_attempt_id: Mapped[uuid.UUID | None]
    dial_round: Mapped[int] = mapped_column(server_default="0")
    # The call summary the stats read, kept by the dialer from the lead's attempts (see
    # app/stats/summary.py): min(create_sent_at), min(lead_answered_at) of the connected
    # ones, min(rep_answered_at) and count(*).
    first_call_at: Mapped[datetime | None]
    connected_at: Mapped[datetime | None]
    first_rep_answered_at: Mapped[datetime | None]
    touches: Mapped[int] = mapped_column(server_default="0")
    # What the speed-to-lead percentiles sort, computed by PostgreSQL on every write (0011);
    # deferred: the ORM never loads them, the statistics read them in SQL.
    first_call_seconds: Mapped[float | None] = seconds_since_received("first_call_at")
    rep_answered_seconds: Mapped[float | None] = seconds_since_received("first_rep_answered_at")
    connected_seconds: Mapped[float | None] = seconds_since_received("connected_at")
    # Privacy (README "Privacy"): when the retention job emptied `fields`, and when the lead's
    # personal data was erased on request.
    fields_purged_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    # Follow-up (README "Cadences"): the cadence the lead follows, where it is (the
    # delay_minutes of the last step fired) and why it stopped.
    cadence_id: Mapped[uuid.UUID | None]
    cadence_state: Mapped[str | None] = mapped_column(String(20))  # active/nurture/stopped/done
    cadence_offset: Mapped[int | None]
    cadence_stop_reason: Mapped[str | None] = mapped_column(Text)
    nurture_count: Mapped[int] = mapped_column(server_default="0")
    # The current call touch began here: reps who passed before it may be offered it again.
    touch_started_at: Mapped[datetime | None]
    opted_out_at: Mapped[datetime | None]
    disposition: Mapped[str | None] = mapped_column(String(30))
    disposition_at: Mapped[datetime | None]


class Team(Timestamps, Base):
    """How a team's reps are offered leads."""

    __tablename__ = "teams"

    slug: Mapped[str] = mapped_column(String(100), primary_key=True)
    routing: Mapped[str] = mapped_column(String(20), server_default="longest_idle")
    ring_group_size: Mapped[int] = mapped_column(server_default="3")
    # Working hours: cadence call steps wait for the shift. NULL start/end = always on shift.
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    shift_start: Mapped[str | None] = mapped_column(String(5))
    shift_end: Mapped[str | None] = mapped_column(String(5))
    # ISO weekdays (1 = Monday) the shift runs on.
    shift_days: Mapped[list[int]] = mapped_column(
        ARRAY(SmallInteger), server_default="{1,2,3,4,5,6,7}"
    )


class Attempt(Base):
    """One offer of a lead to one rep: the rep's call leg and, if accepted, the lead's leg."""

    __tablename__ = "attempts"
    __table_args__ = (
        # A rep is never in two live calls, whatever the workers do.
        Index(
            "uq_attempts_live_rep", "rep_id", unique=True, postgresql_where=text("ended_at IS NULL")
        ),
        Index("ix_attempts_created_at_id", "created_at", "id"),
        Index("ix_attempts_live", "status", postgresql_where=text("ended_at IS NULL")),
        # webhook_received_at is the lead's received_at: the outcomes of a window's leads.
        Index(
            "ix_attempts_webhook_received_at",
            "webhook_received_at",
            postgresql_include=["outcome", "lead_id"],
        ),
        # A rep's attempts of a window, with all the rep figures read (app.stats.service).
        Index(
            "ix_attempts_rep_id_created_at",
            "rep_id",
            "created_at",
            postgresql_include=[
                "outcome",
                "talk_seconds",
                "rep_answered_at",
                "rep_accepted_at",
                "answer_seconds",
            ],
        ),
        # The leads a rep worked in a window (speed to lead with a rep filter).
        Index(
            "ix_attempts_rep_id_webhook_received_at",
            "rep_id",
            "webhook_received_at",
            postgresql_include=["lead_id"],
        ),
        # The outcomes of given leads (speed to lead with a rep filter).
        Index(
            "ix_attempts_lead_id_outcome",
            "lead_id",
            postgresql_include=["outcome", "webhook_received_at"],
        ),
        UPDATED_IN_PLACE,
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Looked up by ix_attempts_lead_id_outcome and ix_attempts_rep_id_created_at, which lead
    # with these columns (0013).
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    rep_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("reps.id", ondelete="SET NULL"))
    ring_group: Mapped[uuid.UUID] = mapped_column(index=True)
    routing: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default="placing")
    outcome: Mapped[str | None] = mapped_column(String(30), index=True)
    rep_call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    lead_call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    digits: Mapped[str | None] = mapped_column(String(20))
    answered_by: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    carrier_retries: Mapped[int] = mapped_column(server_default="0")
    queue_time_ms: Mapped[int | None]
    webhook_received_at: Mapped[datetime]
    job_started_at: Mapped[datetime | None]
    create_sent_at: Mapped[datetime | None]
    sid_returned_at: Mapped[datetime | None]
    rep_ringing_at: Mapped[datetime | None]
    rep_answered_at: Mapped[datetime | None]
    # The rep's answer speed, computed by PostgreSQL (0011) for the rep statistics' median.
    answer_seconds: Mapped[float | None] = mapped_column(
        Float,
        Computed(
            "date_part('epoch', rep_answered_at - coalesce(rep_ringing_at, create_sent_at))",
            persisted=True,
        ),
        deferred=True,
    )
    rep_accepted_at: Mapped[datetime | None]
    lead_answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ring_seconds: Mapped[int | None]
    talk_seconds: Mapped[int | None]
    total_seconds: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # What the rep keyed after the bridge: interested, not_interested, call_back, wrong_number.
    disposition: Mapped[str | None] = mapped_column(String(30))
    disposition_at: Mapped[datetime | None]


class CallEvent(Base):
    """Every status callback, once: Twilio's retries hit the primary key and change nothing."""

    __tablename__ = "call_events"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    call_status: Mapped[str] = mapped_column(String(30), primary_key=True)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("attempts.id", ondelete="CASCADE"), index=True
    )
    leg: Mapped[str] = mapped_column(String(10))
    payload: Mapped[dict[str, str]] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class IntakeClaim(Base):
    """Who got to a (source, phone) or (source, Idempotency-Key) first.

    The primary key turns two simultaneous submissions into one winner inside Postgres,
    instead of a read-then-write race in the API.
    """

    __tablename__ = "intake_claims"

    source_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    claim_key: Mapped[str] = mapped_column(Text, primary_key=True)
    lead_id: Mapped[uuid.UUID]
    expires_at: Mapped[datetime]


class Event(Base):
    """The outbox: written in the transaction of the change it describes, so none is lost or
    invented; deliveries to integrators' endpoints are made from it."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_created_at_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(50), index=True)
    lead_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    data: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class WebhookEndpoint(Timestamps, Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    # Empty means every event type.
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    enabled: Mapped[bool] = mapped_column(server_default="true")
    # The secret replaced by a rotation also signs deliveries until this time.
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One event owed to one endpoint, retried with backoff until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    attempts: Mapped[int] = mapped_column(server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    give_up_at: Mapped[datetime]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class WebhookAttempt(Base):
    """Every try of a delivery: when, what the endpoint answered, how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(server_default=func.now())
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int]


class DoNotCall(Base):
    """Numbers FirstRing must never call or text: checked before every dial."""

    __tablename__ = "do_not_call"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    reason: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(20), server_default="api")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Cadence(Timestamps, Base):
    """A follow-up plan: ordered steps, then a slow nurture track until a stop condition."""

    __tablename__ = "cadences"
    __table_args__ = (
        Index(
            "uq_cadences_default", "is_default", unique=True, postgresql_where=text("is_default")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    is_default: Mapped[bool] = mapped_column(server_default="false")
    # Nurture after the last step: a touch every N days (NULL = NURTURE_EVERY_DAYS, 0 = none),
    # alternating SMS and email, at most nurture_max_touches of them.
    nurture_every_days: Mapped[int | None]
    nurture_max_touches: Mapped[int] = mapped_column(server_default="12")
    nurture_sms_template: Mapped[str | None] = mapped_column(Text)
    nurture_email_subject: Mapped[str | None] = mapped_column(Text)
    nurture_email_template: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(server_default="1")


class CadenceStep(Base):
    """One step of a cadence, `delay_minutes` after the lead arrived."""

    __tablename__ = "cadence_steps"
    __table_args__ = (UniqueConstraint("cadence_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    cadence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cadences.id", ondelete="CASCADE"))
    position: Mapped[int]
    delay_minutes: Mapped[int]
    channel: Mapped[str] = mapped_column(String(10))  # call, sms or email
    template: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    # Runs only if the lead has not been reached since the previous step.
    only_if_unreached: Mapped[bool] = mapped_column(server_default="false")


class LeadStep(Base):
    """A scheduled touch of one lead: the row is the truth, the deferred arq job only a wake-up.

    At most one pending cadence touch per lead, so nothing fires twice. A step is claimed and
    fired in one transaction: it goes from pending to done, skipped or canceled."""

    __tablename__ = "lead_steps"
    __table_args__ = (
        Index("ix_lead_steps_due", "due_at", postgresql_where=text("status = 'pending'")),
        Index(
            "uq_lead_steps_live",
            "lead_id",
            unique=True,
            postgresql_where=text("status = 'pending' AND kind <> 'ack'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    lead_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    cadence_id: Mapped[uuid.UUID | None]
    step_id: Mapped[uuid.UUID | None]
    kind: Mapped[str] = mapped_column(String(10), server_default="step")  # step, nurture, ack
    channel: Mapped[str] = mapped_column(String(10))
    delay_minutes: Mapped[int] = mapped_column(server_default="0")
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    result: Mapped[str | None] = mapped_column(Text)
    fired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class Message(Base):
    """An SMS or email, sent or received: the lead's timeline and the carrier's receipts."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_lead_id_created_at", "lead_id", "created_at"),
        # The sweeper's work list: sends that never ran or were cut off.
        Index(
            "ix_messages_unsent",
            "created_at",
            postgresql_where=text("status IN ('queued', 'sending')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    rep_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("reps.id", ondelete="SET NULL"))
    lead_step_id: Mapped[uuid.UUID | None]
    channel: Mapped[str] = mapped_column(String(10))  # sms or email
    direction: Mapped[str] = mapped_column(String(10))  # out or in
    to_addr: Mapped[str] = mapped_column(Text)
    from_addr: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # queued, sent, delivered, undelivered, failed (out); received (in)
    status: Mapped[str] = mapped_column(String(20))
    provider_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class LeadOutcomes(Base):
    """A lead's attempts counted by outcome (`in_progress`: no outcome yet), for the stats.

    Kept by triggers on `attempts` (migration 0010) in the statements that insert attempts,
    change their outcome or delete them, so a month of outcome figures reads one row per lead
    rather than every attempt joined to its lead. received_at and source_id are the lead's,
    copied when its first attempt is counted: neither changes after intake. An outcome
    missing here (added to app.calls.schemas.Outcome later) needs a column and the triggers'.
    """

    __tablename__ = "lead_outcomes"
    # Room on each page for a lead's updates (two or so per attempt): they stay on the row's
    # page, with no new index entries, and the rows stay in the order the leads arrived in,
    # which is the order the stats read them in.
    __table_args__ = {"postgresql_with": {"fillfactor": 80}}

    lead_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True
    )
    received_at: Mapped[datetime] = mapped_column(index=True)
    source_id: Mapped[uuid.UUID]
    connected: Mapped[int] = mapped_column(server_default="0")
    lead_no_answer: Mapped[int] = mapped_column(server_default="0")
    lead_busy: Mapped[int] = mapped_column(server_default="0")
    lead_voicemail: Mapped[int] = mapped_column(server_default="0")
    rep_no_answer: Mapped[int] = mapped_column(server_default="0")
    rep_declined: Mapped[int] = mapped_column(server_default="0")
    rep_busy: Mapped[int] = mapped_column(server_default="0")
    failed: Mapped[int] = mapped_column(server_default="0")
    canceled: Mapped[int] = mapped_column(server_default="0")
    in_progress: Mapped[int] = mapped_column(server_default="0")
