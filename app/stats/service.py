"""Speed-to-lead and rep figures, aggregated inside PostgreSQL: one query per endpoint."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CTE,
    ColumnElement,
    Float,
    Integer,
    Select,
    cast,
    exists,
    extract,
    func,
    literal,
    null,
    select,
    text,
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
WORK_MEM = "64MB"  # for this transaction only (SET LOCAL)


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
    return cast(extract("epoch", interval), Float)


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


def scoped_leads(scope: LeadScope) -> CTE:
    bucket: ColumnElement[Any] = null()
    if scope.bucket is not None:
        bucket = func.date_trunc(scope.bucket.value, Lead.received_at, "UTC")
    query = select(Lead.id, Lead.received_at, bucket.label("bucket")).where(
        Lead.received_at >= scope.window.start, Lead.received_at < scope.window.end
    )
    if scope.source is not None or scope.team is not None:
        query = query.join(Source, Source.id == Lead.source_id)
    if scope.source is not None:
        query = query.where(Source.slug == scope.source)
    if scope.team is not None:
        query = query.where(Source.team == scope.team)
    if scope.rep_id is not None:
        by_rep = exists().where(Attempt.lead_id == Lead.id, Attempt.rep_id == scope.rep_id)
        query = query.where(by_rep)
    return query.cte("scoped")


def per_lead(scoped: CTE) -> CTE:
    """One row per lead in scope: its touches, first times and attempts by outcome."""
    connected = Attempt.outcome == Outcome.connected
    received = scoped.c.received_at
    outcomes = [func.count(Attempt.id).filter(Attempt.outcome == o).label(o) for o in Outcome]
    query = (
        select(
            scoped.c.bucket,
            func.count(Attempt.id).label("touches"),
            seconds(func.min(Attempt.create_sent_at) - received).label("to_first_call"),
            seconds(func.min(Attempt.rep_answered_at) - received).label("to_rep_answered"),
            seconds(func.min(Attempt.lead_answered_at).filter(connected) - received).label(
                "to_lead_connected"
            ),
            *outcomes,
            func.count(Attempt.id).filter(Attempt.outcome.is_(None)).label(IN_PROGRESS),
        )
        .select_from(scoped.outerjoin(Attempt, Attempt.lead_id == scoped.c.id))
        .group_by(scoped.c.id, scoped.c.received_at, scoped.c.bucket)
    )
    return query.cte("per_lead")


def lead_figures(lead: CTE) -> list[ColumnElement[Any]]:
    """The aggregate columns, over whatever group of per-lead rows they are applied to."""
    leads = func.count()
    reached = lead.c.connected > 0
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
        *[cast(func.coalesce(func.sum(lead.c[o]), 0), Integer).label(o) for o in OUTCOMES],
    ]


def speed_to_lead_query(scope: LeadScope) -> Select[Any]:
    """The window's figures (total = true) and, with a bucket, each bucket's, in one pass."""
    lead = per_lead(scoped_leads(scope))
    if scope.bucket is None:
        return select(literal(True).label("total"), null().label("bucket"), *lead_figures(lead))
    total = (func.grouping(lead.c.bucket) == 1).label("total")
    return select(total, lead.c.bucket, *lead_figures(lead)).group_by(
        func.grouping_sets(tuple_(), lead.c.bucket)
    )


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


async def use_analytics_memory(session: AsyncSession) -> None:
    """Per-lead aggregates over ~1M attempts fit in memory at 64 MB; the default 4 MB spills."""
    await session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))


async def speed_to_lead(session: AsyncSession, *, scope: LeadScope) -> SpeedToLead:
    starts = bucket_starts(scope)  # refuses too many buckets before the query runs
    await use_analytics_memory(session)
    rows = (await session.execute(speed_to_lead_query(scope))).mappings().all()
    by_start = {row["bucket"]: figures_of(row) for row in rows if not row["total"]}
    overall = next(figures_of(row) for row in rows if row["total"])
    empty = figures_of(empty_row())
    return SpeedToLead.model_validate(
        {
            **overall,
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

    Attempts are aggregated per rep first, in one pass, then joined to the (few) reps.
    """
    rang_at = func.coalesce(Attempt.rep_ringing_at, Attempt.create_sent_at)
    per_rep = select(
        Attempt.rep_id,
        func.count().label("offered"),
        func.count(Attempt.rep_answered_at).label("answered"),
        func.count(Attempt.rep_accepted_at).label("accepted"),
        func.count().filter(Attempt.outcome.in_(MISSED)).label("missed"),
        func.count().filter(Attempt.outcome == Outcome.connected).label("connected"),
        func.sum(Attempt.talk_seconds).label("talk_seconds"),
        func.percentile_cont(0.5)
        .within_group(seconds(Attempt.rep_answered_at - rang_at))
        .label("answer_seconds_p50"),
    ).where(Attempt.created_at >= scope.window.start, Attempt.created_at < scope.window.end)
    if scope.rep_id is not None:
        per_rep = per_rep.where(Attempt.rep_id == scope.rep_id)
    counts = per_rep.group_by(Attempt.rep_id).subquery("per_rep")

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
        .outerjoin(counts, counts.c.rep_id == Rep.id)
        .order_by(Rep.name, Rep.id)
    )
    if scope.team is not None:
        query = query.where(Rep.team == scope.team)
    if scope.rep_id is not None:
        query = query.where(Rep.id == scope.rep_id)
    return query


async def rep_stats(session: AsyncSession, *, scope: RepScope) -> RepStats:
    rows = (await session.execute(reps_query(scope))).mappings().all()
    data = [{**row, "answer_seconds_p50": rounded(row["answer_seconds_p50"])} for row in rows]
    return RepStats.model_validate(
        {"from": scope.window.start, "to": scope.window.end, "data": data}
    )
