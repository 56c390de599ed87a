"""Prometheus metrics of the API and worker processes (prometheus-client's default registry).

Histograms and counters are observed where things happen; the gauges of leads waiting and reps
by status are read from PostgreSQL when scraped (`refresh_gauges`), by the API only: they
describe the database, not a process, so one exporter is enough.
"""

import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime

from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Lead, Rep

# No `_created` series beside every counter and histogram.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Speed-to-lead is promised in seconds: fine buckets below 5 s (the dial budget), coarse above.
SPEED_BUCKETS = (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 7.5, 10, 20, 30, 60, 120, 300, 900)
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)

SPEED_TO_LEAD = Histogram(
    "firstring_speed_to_lead_seconds",
    "Webhook received to calls.create sent for the first call of a lead.",
    buckets=SPEED_BUCKETS,
)
DIAL_STAGE = Histogram(
    "firstring_dial_stage_seconds",
    "One stage of a dial: queue (webhook to job start), claim (the claim transaction), "
    "carrier (calls.create round trip, retries included).",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
ATTEMPT_OUTCOMES = Counter("firstring_attempt_outcomes", "Attempts ended, by outcome.", ["outcome"])
CARRIER_ERRORS = Counter(
    "firstring_carrier_errors",
    "calls.create errors: refused (no call exists), retried (429/5xx, retried), "
    "unsure (no answer: the call may exist).",
    ["kind"],
)
HTTP_DURATION = Histogram(
    "firstring_http_request_duration_seconds",
    "API requests, by method, route template and status.",
    ["method", "route", "status"],
)
for _stage in ("queue", "claim", "carrier"):
    DIAL_STAGE.labels(_stage)
for _kind in ("refused", "retried", "unsure"):
    CARRIER_ERRORS.labels(_kind)


class _FirstCalls:
    """Leads whose first call was already timed in this process: in a simultaneous ring only
    the first rep call placed counts. Every call of a round is placed by the same job."""

    def __init__(self, size: int = 10_000) -> None:
        self.seen: OrderedDict[object, None] = OrderedDict()
        self.size = size

    def first(self, lead: object) -> bool:
        if lead in self.seen:
            return False
        self.seen[lead] = None
        if len(self.seen) > self.size:
            self.seen.popitem(last=False)
        return True


_first_calls = _FirstCalls()


def clock() -> float:
    return time.perf_counter()


def observe_round(
    received_at: datetime | None, started_at: datetime | None, claim_started: float
) -> None:
    """The claim transaction took until now; on a lead's first round, the queue stage is the
    time from the webhook to the job starting."""
    DIAL_STAGE.labels("claim").observe(time.perf_counter() - claim_started)
    if received_at is not None and started_at is not None:
        DIAL_STAGE.labels("queue").observe(_seconds(received_at, started_at))


def observe_created(sent_at: datetime, retries: int) -> None:
    """calls.create returned a call: its round trip (retries included), and the retries."""
    DIAL_STAGE.labels("carrier").observe(_seconds(sent_at, datetime.now(UTC)))
    count_carrier_error(None, retries)


def observe_speed_to_lead(lead: object, received_at: datetime | None, sent_at: datetime) -> None:
    """A call was placed; on a lead's first round the first one placed times speed-to-lead."""
    if received_at is not None and _first_calls.first(lead):
        SPEED_TO_LEAD.observe(_seconds(received_at, sent_at))


def count_carrier_error(kind: str | None, retries: int) -> None:
    """`kind` refused or unsure for a create that failed, None for one that went through."""
    if retries:
        CARRIER_ERRORS.labels("retried").inc(retries)
    if kind is not None:
        CARRIER_ERRORS.labels(kind).inc()


def count_outcome(outcome: str | None) -> None:
    ATTEMPT_OUTCOMES.labels(outcome or "unknown").inc()


def _seconds(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)


class DatabaseGauges(Collector):
    """Leads waiting and reps by status, as last read by `refresh_gauges`; nothing before."""

    def __init__(self) -> None:
        self.leads_waiting: int | None = None
        self.reps: list[tuple[str, str, int]] = []

    def collect(self) -> Iterable[Metric]:
        if self.leads_waiting is None:
            return
        yield GaugeMetricFamily(
            "firstring_leads_waiting", "Leads waiting for a free rep.", value=self.leads_waiting
        )
        reps = GaugeMetricFamily(
            "firstring_reps",
            "Reps by availability and call state.",
            labels=["availability", "call_state"],
        )
        for availability, call_state, count in self.reps:
            reps.add_metric([availability, call_state], count)
        yield reps


database_gauges = DatabaseGauges()
REGISTRY.register(database_gauges)


async def refresh_gauges(session: AsyncSession) -> None:
    """One count over the indexed lead status and one GROUP BY over reps."""
    waiting = await session.scalar(
        select(func.count()).select_from(Lead).where(Lead.status == "waiting")
    )
    rows = await session.execute(
        select(Rep.availability, Rep.call_state, func.count()).group_by(
            Rep.availability, Rep.call_state
        )
    )
    database_gauges.reps = [(str(a), str(c), int(n)) for a, c, n in rows.all()]
    database_gauges.leads_waiting = int(waiting or 0)


def forget_gauges() -> None:
    """The database did not answer: expose no stale figures."""
    database_gauges.leads_waiting, database_gauges.reps = None, []
