"""Speed-to-lead and rep figures, aggregated inside PostgreSQL.

Speed to lead reads one row per lead and no attempt (but to find a rep's leads): the times and
touches from the call summary kept on each lead (app.stats.summary), the outcomes from
lead_outcomes, each lead's attempts counted by outcome (kept by triggers on attempts). Only the
percentiles need every value at once (a sort per stage and group); everything else is counted
per group in PostgreSQL and summed here, which is exact. Reps aggregate the window's attempts
per rep.
"""

import asyncio
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Float,
    Function,
    Integer,
    Interval,
    Select,
    SQLColumnExpression,
    and_,
    cast,
    func,
    literal,
    literal_column,
    null,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.engine import Result, RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.calls.schemas import Outcome
from app.errors import InvalidField
from app.models import Attempt, Lead, LeadOutcomes, Rep, Source
from app.stats.readers import Readers, readers
from app.stats.schemas import Bucket, RepStats, SpeedToLead

DEFAULT_WINDOW = timedelta(days=7)
Binned = Function[datetime]
TimeRows = Literal["both", "buckets", "window"]
Rows = Result[*tuple[Any, ...]]
MAX_BUCKETS = 10_000
PERCENTILES = (0.5, 0.9, 0.99)
WITHIN_SECONDS = (5, 60, 300)
TOUCH_VALUES = 10  # leads with 0..9 attempts are counted apart, then "10+"
MISSED = (Outcome.rep_no_answer, Outcome.rep_busy)
IN_PROGRESS = "in_progress"
OUTCOMES = (*(o.value for o in Outcome), IN_PROGRESS)  # lead_outcomes has a column for each
TIMES = ("to_first_call", "to_rep_answered", "to_lead_connected")
TIME_KEYS = tuple(f"p{round(f * 100)}" for f in PERCENTILES)
TOUCH_LABELS = (*(str(n) for n in range(TOUCH_VALUES)), f"{TOUCH_VALUES}+")
REP_ORDER = (Rep.name, Rep.id)
REP_COUNTS = ("offered", "answered", "accepted", "missed", "connected", "talk_seconds")
# For the stats' transactions only (SET LOCAL):
# - a month of leads' sorts (the percentiles) and per-bucket arrays stay in memory;
# - the window's leads are read from the covering index, in time order (cached, a random page
#   costs about what a sequential one does), never by a bitmap scan of the table: that reads
#   them in page order, which the dialer's updates scramble, and sorting them into buckets
#   then costs a real sort instead of a check that they are sorted already;
# - no parallel workers: the percentile pass, the bulk of the work, cannot be split, and on two
#   cores the workers of the other passes measured no faster than one process, and up to twice
#   as slow when the machine is busy;
# - no compiling of plans to machine code (JIT): it costs more than these single passes gain;
# - each statement planned for its own window and filters: the driver prepares statements,
#   and after five runs PostgreSQL may settle on a generic plan, chosen without the
#   parameters (a day or a month alike).
ANALYTICS_SETTINGS = {
    "work_mem": "64MB",
    "random_page_cost": "1.1",
    "enable_bitmapscan": "off",
    "max_parallel_workers_per_gather": "0",
    "jit": "off",
    "plan_cache_mode": "force_custom_plan",
}


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


# The seconds the percentiles sort, stored on the rows (generated columns, migration 0011):
# date_part('epoch', ...) of each time since receipt, and of the rep's answer since the ring.
# Not mapped on the models (nothing writes them), so named here, qualified by their table.
TIME_SECONDS = {
    "to_first_call": literal_column("leads.first_call_seconds", Float),
    "to_rep_answered": literal_column("leads.rep_answered_seconds", Float),
    "to_lead_connected": literal_column("leads.connected_seconds", Float),
}
ANSWER_SECONDS = literal_column("attempts.answer_seconds", Float)


def rounded(value: float | None) -> float | None:
    """To the millisecond: the timestamps are no more precise than that in practice."""
    return None if value is None else round(value, 3)


def percentile_cont(counts: Mapping[int, int], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont over values given as value -> how many, to the last bit:
    the same positions, and the same float arithmetic between the two values around them."""
    rows = sum(counts.values())
    if rows == 0:
        return None
    position = fraction * (rows - 1)
    first, second = math.floor(position), math.ceil(position)
    low = high = None
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if low is None and seen > first:
            low = float(value)
        if seen > second:
            high = float(value)
            break
    assert low is not None and high is not None
    return low if first == second else low + (position - first) * (high - low)


# Speed to lead -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadScope:
    window: Window
    source: str | None = None
    team: str | None = None
    rep_id: UUID | None = None
    bucket: Bucket | None = None
    # The ids of the sources `source` and `team` name: looked up first (see scoped), so the
    # leads are filtered on the index they are read from instead of joined to sources.
    source_ids: tuple[UUID, ...] | None = field(default=None, compare=False)


# Buckets are UTC hours and days: date_bin from a UTC midnight is date_trunc in UTC without
# the time zone. Written as constants, exactly as the index on leads has them (migration 0011),
# so the planner reads a window's leads from it in bucket order instead of sorting them.
DAY = literal_column("'1 day'::interval", Interval)
HOUR = literal_column("'1 hour'::interval", Interval)
BUCKET_ORIGIN = literal_column("'2000-01-01 00:00:00+00'::timestamptz", DateTime(timezone=True))


def binned(step: ColumnElement[timedelta], moment: SQLColumnExpression[datetime]) -> Binned:
    return func.date_bin(step, moment, BUCKET_ORIGIN, type_=DateTime(timezone=True))


def bucket_of(moment: SQLColumnExpression[datetime], scope: LeadScope) -> ColumnElement[Any]:
    if scope.bucket is None:
        return null()
    return binned(HOUR if scope.bucket == Bucket.hour else DAY, moment)


def bucket_keys(moment: SQLColumnExpression[datetime], scope: LeadScope) -> tuple[Binned, ...]:
    """What buckets are grouped by, in the order of the index: the day, then the hour."""
    if scope.bucket is None:
        return ()
    day = binned(DAY, moment)
    return (day,) if scope.bucket == Bucket.day else (day, binned(HOUR, moment))


def midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def days_of(scope: LeadScope) -> list[ColumnElement[bool]]:
    """The window's days, the leading column of the index on leads: implied by the window, but
    the index is read by range only with them."""
    day = binned(DAY, Lead.received_at)
    return [day >= midnight(scope.window.start), day <= midnight(scope.window.end)]


async def scoped(connection: AsyncConnection, scope: LeadScope) -> LeadScope:
    """The scope with the ids of its sources, when it names a source or a team."""
    if scope.source is None and scope.team is None:
        return scope
    query = select(Source.id)
    if scope.source is not None:
        query = query.where(Source.slug == scope.source)
    if scope.team is not None:
        query = query.where(Source.team == scope.team)
    found = tuple((await connection.execute(query)).scalars().all())
    return LeadScope(scope.window, scope.source, scope.team, scope.rep_id, scope.bucket, found)


def in_window(scope: LeadScope) -> list[ColumnElement[bool]]:
    """Attempts on the window's leads, by index: webhook_received_at is the lead's received_at."""
    received = Attempt.webhook_received_at
    return [received >= scope.window.start, received < scope.window.end]


def by_rep(scope: LeadScope) -> ColumnElement[bool]:
    return and_(Attempt.rep_id == scope.rep_id, *in_window(scope))


def leads_in_scope(
    received_at: SQLColumnExpression[datetime],
    source_id: SQLColumnExpression[UUID],
    lead_id: SQLColumnExpression[UUID],
    scope: LeadScope,
) -> list[ColumnElement[bool]]:
    """The conditions for the leads in scope, on a table with one row per lead."""
    found = [received_at >= scope.window.start, received_at < scope.window.end]
    if scope.source_ids is not None:
        found.append(source_id.in_(scope.source_ids))
    if scope.rep_id is not None:
        found.append(lead_id.in_(select(Attempt.lead_id).where(by_rep(scope))))
    return found


def leads_of(scope: LeadScope) -> list[ColumnElement[bool]]:
    """The conditions for the leads in scope, read from leads (their call summary)."""
    return [*leads_in_scope(Lead.received_at, Lead.source_id, Lead.id, scope), *days_of(scope)]


def times_query(scope: LeadScope, rows: TimeRows = "both") -> Select[Any]:
    """Leads, the three times' percentiles and the first calls within 5 s / 1 min / 5 min.

    Nothing here can be summed, so the whole window's row is aggregated too (a grouping set,
    total = true); `rows` asks for one bucket's rows or the window's alone, which two readers
    compute at the same time. The leads come in bucket order from the index, so no sort precedes the
    percentiles' own. Within N seconds compares the stored seconds: exact to the microsecond up
    to a day, so "at most N seconds" is the same as comparing the timestamps.
    """
    fractions = array([literal(f, Float) for f in PERCENTILES])
    first_call = TIME_SECONDS["to_first_call"]
    figures = [
        func.count().label("leads"),
        *[
            func.percentile_cont(fractions).within_group(seconds).label(name)
            for name, seconds in TIME_SECONDS.items()
        ],
        *[func.count().filter(first_call <= s).label(f"s{s}") for s in WITHIN_SECONDS],
    ]
    keys = bucket_keys(Lead.received_at, scope)
    if not keys or rows == "window":
        return select(literal(True).label("total"), null().label("bucket"), *figures).where(
            *leads_of(scope)
        )
    bucket = keys[-1]
    if rows == "buckets":
        return (
            select(literal(False).label("total"), bucket.label("bucket"), *figures)
            .where(*leads_of(scope))
            .group_by(*keys)
        )
    return (
        select((func.grouping(bucket) == 1).label("total"), bucket.label("bucket"), *figures)
        .where(*leads_of(scope))
        .group_by(func.grouping_sets(tuple_(), tuple_(*keys)))
    )


def touches_query(scope: LeadScope) -> Select[Any]:
    """Leads per bucket, reached or not, and number of attempts: counts, to be summed here.

    One row per bucket and reached, the counts in two arrays (touches[i] -> leads[i]): a month
    by the hour is 1,440 rows instead of some 20,000.
    """
    lead = (
        select(
            bucket_of(Lead.received_at, scope).label("bucket"),
            TIME_SECONDS["to_lead_connected"].is_not(None).label("reached"),  # connected_at set
            Lead.touches,
        )
        .where(*leads_of(scope))
        .subquery("per_lead")
    )
    keys = (lead.c.bucket, lead.c.reached, lead.c.touches)
    counts = select(*keys, func.count().label("leads")).group_by(*keys).subquery("counts")
    return select(
        counts.c.bucket,
        counts.c.reached,
        func.array_agg(counts.c.touches).label("touches"),
        func.array_agg(counts.c.leads).label("leads"),
    ).group_by(counts.c.bucket, counts.c.reached)


def outcomes_query(scope: LeadScope) -> Select[Any]:
    """Attempts on the leads in scope (by any rep) per bucket and outcome, summed from the
    leads' counts in lead_outcomes."""
    counts = LeadOutcomes
    lead = (
        select(
            bucket_of(counts.received_at, scope).label("bucket"),
            *[counts.__table__.c[name] for name in OUTCOMES],
        )
        .where(*leads_in_scope(counts.received_at, counts.source_id, counts.lead_id, scope))
        .subquery("per_lead")
    )
    sums: list[ColumnElement[Any]] = [
        cast(func.coalesce(func.sum(lead.c[name]), 0), Integer).label(name) for name in OUTCOMES
    ]
    if scope.bucket is None:
        return select(null().label("bucket"), *sums)
    return select(lead.c.bucket, *sums).group_by(lead.c.bucket)


@dataclass
class Figures:
    """What one bucket (or the window) adds up to, before it becomes a LeadFigures."""

    times: Mapping[Any, Any] = field(default_factory=dict)
    # Leads by number of attempts, reached (their summary's connected_at is set) or not.
    reached: Counter[int] = field(default_factory=Counter)
    unreached: Counter[int] = field(default_factory=Counter)
    outcomes: Mapping[str, int] = field(default_factory=dict)

    def add_touches(self, reached: bool, touches: list[int], leads: list[int]) -> None:
        (self.reached if reached else self.unreached).update(dict(zip(touches, leads, strict=True)))

    def add_outcomes(self, sums: Sequence[int]) -> None:
        """The sums of OUTCOMES, in that order."""
        self.outcomes = {
            o: self.outcomes.get(o, 0) + n for o, n in zip(OUTCOMES, sums, strict=True)
        }


def touch_figures(figures: Figures) -> dict[str, Any]:
    touches = figures.reached + figures.unreached
    more = sum(leads for n, leads in touches.items() if n >= TOUCH_VALUES)
    counts = [*(touches[n] for n in range(TOUCH_VALUES)), more]
    return {
        "distribution": [
            {"touches": label, "leads": n} for label, n in zip(TOUCH_LABELS, counts, strict=True)
        ],
        "median_reached": percentile_cont(figures.reached, 0.5),
        "median_unreached": percentile_cont(figures.unreached, 0.5),
    }


def figures_of(figures: Figures) -> dict[str, Any]:
    row, outcomes = figures.times, figures.outcomes
    leads: int = row.get("leads", 0)

    def times(name: str) -> dict[str, float | None]:
        values = row.get(name) or (None,) * len(TIME_KEYS)
        return dict(zip(TIME_KEYS, map(rounded, values), strict=True))

    contacted = figures.reached.total()
    return {
        "leads": leads,
        **{name: times(name) for name in TIMES},
        "called_within": {f"s{s}": row[f"s{s}"] / leads if leads else None for s in WITHIN_SECONDS},
        "contacted": contacted,
        "contact_rate": contacted / leads if leads else None,
        "touches": touch_figures(figures),
        "attempts": sum(outcomes.values()),
        "outcomes": {o: outcomes.get(o, 0) for o in OUTCOMES},
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


Plan = list[list[tuple[str, Select[Any]]]]


def reading_plan(scope: LeadScope, readers: int) -> Plan:
    """The statements each reader runs, in turn. Two readers share the work evenly: by the
    bucket, the times of the buckets and of the window (a sort of all the window's leads
    each) go to different readers."""
    touches, outcomes = ("touches", touches_query(scope)), ("outcomes", outcomes_query(scope))
    if readers == 1:
        return [[touches, outcomes, ("times", times_query(scope))]]
    if scope.bucket is None:
        return [[("times", times_query(scope))], [touches, outcomes]]
    return [
        [("times", times_query(scope, "buckets")), outcomes],
        [("window times", times_query(scope, "window")), touches],
    ]


async def run_plan(read: Readers, plan: Plan) -> dict[str, Rows]:
    """Each reader's statements in turn, the readers at the same time."""

    async def run(connection: AsyncConnection, statements: list[tuple[str, Select[Any]]]) -> None:
        for name, statement in statements:
            results[name] = await connection.execute(statement)

    results: dict[str, Rows] = {}
    connections = [read.first] if read.second is None else [read.first, read.second]
    await asyncio.gather(*map(run, connections, plan))
    return results


async def read_figures(read: Readers, scope: LeadScope) -> dict[datetime | None, Figures]:
    """Each bucket's figures (None: the whole window's)."""
    found: dict[datetime | None, Figures] = {None: Figures()}
    if scope.source_ids == ():
        return found  # the source or team has no sources: no leads
    results = await run_plan(read, reading_plan(scope, 1 if read.second is None else 2))
    for bucket, reached, touches, leads in results["touches"]:
        found[None].add_touches(reached, touches, leads)
        if scope.bucket is not None:
            found.setdefault(bucket, Figures()).add_touches(reached, touches, leads)
    for bucket, *sums in results["outcomes"]:
        found[None].add_outcomes(sums)
        if scope.bucket is not None:
            found.setdefault(bucket, Figures()).add_outcomes(sums)
    for name in ("times", "window times"):
        for row in results[name].mappings() if name in results else ():
            found.setdefault(None if row["total"] else row["bucket"], Figures()).times = row
    return found


async def speed_to_lead(session: AsyncSession, *, scope: LeadScope) -> SpeedToLead:
    starts = bucket_starts(scope)  # refuses too many buckets before the queries run
    async with readers(session, ANALYTICS_SETTINGS) as read:
        scope = await scoped(read.first, scope)
        found = await read_figures(read, scope)
    empty = figures_of(Figures())
    by_start = {start: figures_of(f) for start, f in found.items() if start is not None}
    return SpeedToLead.model_validate(
        {
            **figures_of(found[None]),
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


def reps_query(scope: RepScope, rep_ids: Sequence[UUID] | None = None) -> Select[Any]:
    """Every rep matching the filters, with their attempts created in the window (or none).

    `rep_ids`: only these of them. Each rep's attempts are aggregated on their own (a lateral
    subquery), read from the index on (rep_id, created_at) that carries every column used:
    only the window's rows are read.
    The median sorts answer_seconds, stored: rep_answered_at - coalesce(rep_ringing_at,
    create_sent_at) in seconds.
    """
    counts = (
        select(
            func.count().label("offered"),
            func.count(Attempt.rep_answered_at).label("answered"),
            func.count(Attempt.rep_accepted_at).label("accepted"),
            func.count().filter(Attempt.outcome.in_(MISSED)).label("missed"),
            func.count().filter(Attempt.outcome == Outcome.connected).label("connected"),
            func.sum(Attempt.talk_seconds).label("talk_seconds"),
            func.percentile_cont(0.5).within_group(ANSWER_SECONDS).label("answer_seconds_p50"),
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
        .where(*rep_filters(scope))
        .order_by(*REP_ORDER)
    )
    return query if rep_ids is None else query.where(Rep.id.in_(rep_ids))


def rep_filters(scope: RepScope) -> list[ColumnElement[bool]]:
    found = []
    if scope.team is not None:
        found.append(Rep.team == scope.team)
    if scope.rep_id is not None:
        found.append(Rep.id == scope.rep_id)
    return found


async def rep_stats(session: AsyncSession, *, scope: RepScope) -> RepStats:
    async with readers(session, ANALYTICS_SETTINGS) as read:
        rows = await rep_rows(read, scope)
    data = [{**row, "answer_seconds_p50": rounded(row["answer_seconds_p50"])} for row in rows]
    return RepStats.model_validate(
        {"from": scope.window.start, "to": scope.window.end, "data": data}
    )


async def rep_rows(read: Readers, scope: RepScope) -> list[RowMapping]:
    """reps_query's rows; with two readers, the first half of the reps (in the answer's order)
    on one and the second half on the other, at the same time."""
    if read.second is None or scope.rep_id is not None:
        return list((await read.first.execute(reps_query(scope))).mappings())
    in_order = select(Rep.id).where(*rep_filters(scope)).order_by(*REP_ORDER)
    ids = list((await read.first.execute(in_order)).scalars())
    half = len(ids) // 2
    first, second = await asyncio.gather(
        read.first.execute(reps_query(scope, ids[:half])),
        read.second.execute(reps_query(scope, ids[half:])),
    )
    return [*first.mappings(), *second.mappings()]


def speed_to_lead_queries(scope: LeadScope) -> Iterable[Select[Any]]:
    """The queries speed_to_lead runs for a scope (already `scoped`) on two readers, for the
    bench's EXPLAIN."""
    return [statement for statements in reading_plan(scope, 2) for _, statement in statements]
