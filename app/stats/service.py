"""Speed-to-lead and rep figures, aggregated inside PostgreSQL.

Speed to lead reads the call summary kept on each lead (app.stats.summary) for the lead figures
and the window's attempts (by index) for the outcomes: nothing is aggregated per lead on a
request. Reps aggregate the window's attempts per rep.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Float,
    Integer,
    Select,
    SQLColumnExpression,
    Subquery,
    and_,
    cast,
    func,
    literal,
    null,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.schemas import Outcome
from app.errors import InvalidField
from app.models import Attempt, Lead, Rep, Source
from app.stats.schemas import Bucket, RepStats, SpeedToLead

DEFAULT_WINDOW = timedelta(days=7)
MAX_BUCKETS = 10_000
PERCENTILES = (0.5, 0.9, 0.99)
WITHIN_SECONDS = (5, 60, 300)
TOUCH_VALUES = 10  # leads with 0..9 attempts are counted apart, then "10+"
MISSED = (Outcome.rep_no_answer, Outcome.rep_busy)
IN_PROGRESS = "in_progress"
OUTCOMES = (*(o.value for o in Outcome), IN_PROGRESS)
TIMES = ("to_first_call", "to_rep_answered", "to_lead_connected")
REP_COUNTS = ("offered", "answered", "accepted", "missed", "connected", "talk_seconds")
# For the stats' transactions only (SET LOCAL): sorts of a month of leads stay in memory, and
# the window's rows are read from the covering indexes (cached, so a random page costs about
# what a sequential one does) rather than from whole tables.
ANALYTICS_SETTINGS = {"work_mem": "64MB", "random_page_cost": "1.1"}


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def window(start: datetime | None, end: datetime | None) -> Window:
    """[from, to), by default the 7 days up to now; naive datetimes are read as UTC."""
    end = as_utc(end) if end is not None else datetime.now(UTC)
    start = as_utc(start) if start is not None else end - DEFAULT_WINDOW
    if start >= end:
        raise InvalidField("'from' must be before 'to'.", field="from")
    return Window(start, end)


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def seconds(interval: ColumnElement[Any]) -> ColumnElement[float]:
    """date_part is float8 already; extract's numeric costs a conversion per row."""
    return func.date_part("epoch", interval, type_=Float)


def rounded(value: float | None) -> float | None:
    """To the millisecond: the timestamps are no more precise than that in practice."""
    return None if value is None else round(value, 3)


# Speed to lead -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadScope:
    window: Window
    source: str | None = None
    team: str | None = None
    rep_id: UUID | None = None
    bucket: Bucket | None = None


BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # a midnight UTC: buckets are UTC hours/days


def bucket_of(moment: SQLColumnExpression[datetime], scope: LeadScope) -> ColumnElement[Any]:
    """date_trunc in UTC; date_bin from a UTC midnight is the same and skips the time zone."""
    if scope.bucket is None:
        return null()
    step = timedelta(hours=1) if scope.bucket == Bucket.hour else timedelta(days=1)
    return func.date_bin(step, moment, BUCKET_ORIGIN, type_=DateTime(timezone=True))


def in_scope(query: Select[Any], scope: LeadScope) -> Select[Any]:
    """`query` over leads, narrowed to the leads in scope."""
    query = query.where(Lead.received_at >= scope.window.start, Lead.received_at < scope.window.end)
    if scope.source is not None or scope.team is not None:
        query = query.join(Source, Source.id == Lead.source_id)
    if scope.source is not None:
        query = query.where(Source.slug == scope.source)
    if scope.team is not None:
        query = query.where(Source.team == scope.team)
    if scope.rep_id is not None:
        query = query.where(Lead.id.in_(select(Attempt.lead_id).where(by_rep(scope))))
    return query


def in_window(scope: LeadScope) -> list[ColumnElement[bool]]:
    """Attempts on the window's leads, by index: webhook_received_at is the lead's received_at."""
    received = Attempt.webhook_received_at
    return [received >= scope.window.start, received < scope.window.end]


def by_rep(scope: LeadScope) -> ColumnElement[bool]:
    return and_(Attempt.rep_id == scope.rep_id, *in_window(scope))


def per_lead(scope: LeadScope) -> Subquery:
    """One row per lead in scope, from the call summary kept on the lead (app.stats.summary)."""
    received = Lead.received_at
    query: Select[Any] = select(
        bucket_of(received, scope).label("bucket"),
        Lead.touches.label("touches"),
        seconds(Lead.first_call_at - received).label("to_first_call"),
        seconds(Lead.first_rep_answered_at - received).label("to_rep_answered"),
        seconds(Lead.connected_at - received).label("to_lead_connected"),
        Lead.connected_at.is_not(None).label("reached"),
    )
    return in_scope(query, scope).subquery("per_lead")


def outcomes_query(scope: LeadScope) -> Select[Any]:
    """Attempts on the leads in scope (by any rep) per bucket and outcome, read by index.

    Grouped by (bucket, outcome) in one hash, and summed up in Python: counts add up.
    """
    query: Select[Any] = select(
        bucket_of(Attempt.webhook_received_at, scope).label("bucket"), Attempt.outcome
    ).where(*in_window(scope))
    if scope.source is not None or scope.team is not None or scope.rep_id is not None:
        query = query.where(Attempt.lead_id.in_(in_scope(select(Lead.id), scope)))
    attempt = query.subquery("per_attempt")
    if scope.bucket is None:
        return select(null(), attempt.c.outcome, func.count()).group_by(attempt.c.outcome)
    keys = (attempt.c.bucket, attempt.c.outcome)
    return select(*keys, func.count()).group_by(*keys)


def lead_figures(lead: Subquery) -> list[ColumnElement[Any]]:
    """The aggregate columns, over whatever group of per-lead rows they are applied to."""
    leads = func.count()
    reached = lead.c.reached
    touches = lead.c.touches
    fractions = array([literal(f, Float) for f in PERCENTILES])

    def percentiles(column: str) -> ColumnElement[Any]:
        return func.percentile_cont(fractions).within_group(lead.c[column]).label(column)

    def share(condition: ColumnElement[bool], name: str) -> ColumnElement[Any]:
        within = cast(func.count().filter(condition), Float)
        return (within / cast(func.nullif(leads, 0), Float)).label(name)

    def median_touches(condition: ColumnElement[bool], name: str) -> ColumnElement[Any]:
        return func.percentile_cont(0.5).within_group(touches).filter(condition).label(name)

    return [
        leads.label("leads"),
        *[percentiles(name) for name in TIMES],
        *[share(lead.c.to_first_call <= s, f"s{s}") for s in WITHIN_SECONDS],
        func.count().filter(reached).label("contacted"),
        *[func.count().filter(touches == n).label(f"t{n}") for n in range(TOUCH_VALUES)],
        func.count().filter(touches >= TOUCH_VALUES).label(f"t{TOUCH_VALUES}"),
        median_touches(reached, "median_reached"),
        median_touches(~reached, "median_unreached"),
    ]


def by_bucket(rows: Subquery, figures: list[ColumnElement[Any]], scope: LeadScope) -> Select[Any]:
    """The window's figures (total = true) and, with a bucket, each bucket's, in one pass."""
    if scope.bucket is None:
        return select(literal(True).label("total"), null().label("bucket"), *figures)
    total = (func.grouping(rows.c.bucket) == 1).label("total")
    return select(total, rows.c.bucket, *figures).group_by(
        func.grouping_sets(tuple_(), rows.c.bucket)
    )


def speed_to_lead_query(scope: LeadScope) -> Select[Any]:
    """The lead figures, from the leads alone (the rep filter aside)."""
    lead = per_lead(scope)
    return by_bucket(lead, lead_figures(lead), scope)


def empty_row() -> dict[str, Any]:
    """What a bucket without leads aggregates to."""
    counts = ["leads", "contacted", *(f"t{n}" for n in range(TOUCH_VALUES + 1)), *OUTCOMES]
    return dict.fromkeys(counts, 0)


def figures_of(row: Mapping[str, Any]) -> dict[str, Any]:
    def times(name: str) -> dict[str, float | None]:
        values = row.get(name) or [None] * len(PERCENTILES)
        return {f"p{round(f * 100)}": rounded(v) for f, v in zip(PERCENTILES, values, strict=True)}

    labels = [*(str(n) for n in range(TOUCH_VALUES)), f"{TOUCH_VALUES}+"]
    return {
        "leads": row["leads"],
        **{name: times(name) for name in TIMES},
        "called_within": {f"s{s}": row.get(f"s{s}") for s in WITHIN_SECONDS},
        "contacted": row["contacted"],
        "contact_rate": row["contacted"] / row["leads"] if row["leads"] else None,
        "touches": {
            "distribution": [
                {"touches": label, "leads": row[f"t{n}"]} for n, label in enumerate(labels)
            ],
            "median_reached": row.get("median_reached"),
            "median_unreached": row.get("median_unreached"),
        },
        "attempts": sum(row[o] for o in OUTCOMES),
        "outcomes": {o: row[o] for o in OUTCOMES},
    }


def bucket_starts(scope: LeadScope) -> list[datetime]:
    """Every bucket of the window, so a chart gets empty buckets as zeros, not as gaps."""
    if scope.bucket is None:
        return []
    step = timedelta(hours=1) if scope.bucket == Bucket.hour else timedelta(days=1)
    start = scope.window.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if scope.bucket == Bucket.day:
        start = start.replace(hour=0)
    if (scope.window.end - start) / step > MAX_BUCKETS:
        raise InvalidField(
            f"More than {MAX_BUCKETS} buckets: narrow the window or use a longer bucket.",
            field="bucket",
        )
    starts = []
    while start < scope.window.end:
        starts.append(start)
        start += step
    return starts


async def use_analytics_settings(session: AsyncSession) -> None:
    for name, value in ANALYTICS_SETTINGS.items():
        await session.execute(text(f"SET LOCAL {name} = '{value}'"))


async def speed_to_lead(session: AsyncSession, *, scope: LeadScope) -> SpeedToLead:
    starts = bucket_starts(scope)  # refuses too many buckets before the query runs
    await use_analytics_settings(session)
    rows: dict[datetime | None, dict[str, Any]] = {}  # None: the whole window
    for row in (await session.execute(speed_to_lead_query(scope))).mappings():
        rows[None if row["total"] else row["bucket"]] = {**empty_row(), **row}
    for bucket, outcome, attempts in await session.execute(outcomes_query(scope)):
        name = outcome or IN_PROGRESS
        rows[None][name] += attempts
        if scope.bucket is not None:
            rows.setdefault(bucket, empty_row())[name] += attempts
    by_start = {start: figures_of(row) for start, row in rows.items() if start is not None}
    empty = figures_of(empty_row())
    return SpeedToLead.model_validate(
        {
            **figures_of(rows[None]),
            "from": scope.window.start,
            "to": scope.window.end,
            "bucket": scope.bucket,
            "buckets": [{**by_start.get(start, empty), "start": start} for start in starts],
        }
    )


# Reps ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepScope:
    window: Window
    team: str | None = None
    rep_id: UUID | None = None


def reps_query(scope: RepScope) -> Select[Any]:
    """Every rep matching the filters, with their attempts created in the window (or none).

    Each rep's attempts are aggregated on their own (a lateral subquery), read from the index
    on (rep_id, created_at) that carries every column used: only the window's rows are read.
    """
    rang_at = func.coalesce(Attempt.rep_ringing_at, Attempt.create_sent_at)
    counts = (
        select(
            func.count().label("offered"),
            func.count(Attempt.rep_answered_at).label("answered"),
            func.count(Attempt.rep_accepted_at).label("accepted"),
            func.count().filter(Attempt.outcome.in_(MISSED)).label("missed"),
            func.count().filter(Attempt.outcome == Outcome.connected).label("connected"),
            func.sum(Attempt.talk_seconds).label("talk_seconds"),
            func.percentile_cont(0.5)
            .within_group(seconds(Attempt.rep_answered_at - rang_at))
            .label("answer_seconds_p50"),
        )
        .where(
            Attempt.rep_id == Rep.id,
            Attempt.created_at >= scope.window.start,
            Attempt.created_at < scope.window.end,
        )
        .lateral("per_rep")
    )

    def zero_if_none(name: str) -> ColumnElement[Any]:
        return cast(func.coalesce(counts.c[name], 0), Integer).label(name)

    query = (
        select(
            Rep.id,
            Rep.name,
            Rep.team,
            *[zero_if_none(name) for name in REP_COUNTS],
            counts.c.answer_seconds_p50,
        )
        .outerjoin(counts, true())
        .order_by(Rep.name, Rep.id)
    )
    if scope.team is not None:
        query = query.where(Rep.team == scope.team)
    if scope.rep_id is not None:
        query = query.where(Rep.id == scope.rep_id)
    return query


async def rep_stats(session: AsyncSession, *, scope: RepScope) -> RepStats:
    await use_analytics_settings(session)
    rows = (await session.execute(reps_query(scope))).mappings().all()
    data = [{**row, "answer_seconds_p50": rounded(row["answer_seconds_p50"])} for row in rows]
    return RepStats.model_validate(
        {"from": scope.window.start, "to": scope.window.end, "data": data}
    )
