from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from app.db import SessionDep
from app.deps import ApiKeyDep
from app.stats import service
from app.stats.schemas import Bucket, RepStats, SpeedToLead

router = APIRouter(prefix="/v1/stats", tags=["stats"])

From = Annotated[
    datetime | None,
    Query(
        alias="from",
        description="Window start, inclusive (ISO 8601; no offset = UTC). "
        "Default: `to` minus 7 days.",
    ),
]
To = Annotated[
    datetime | None,
    Query(
        alias="to", description="Window end, exclusive (ISO 8601; no offset = UTC). Default: now."
    ),
]


@router.get("/speed-to-lead", response_model=SpeedToLead)
async def speed_to_lead(
    session: SessionDep,
    _: ApiKeyDep,
    start: From = None,
    end: To = None,
    source: Annotated[str | None, Query(max_length=100, description="Source slug.")] = None,
    team: Annotated[
        str | None, Query(max_length=100, description="The sources' team (sources.team).")
    ] = None,
    rep: Annotated[
        UUID | None, Query(description="Only leads with at least one attempt by this rep.")
    ] = None,
    bucket: Annotated[
        Bucket | None, Query(description="Also give the figures per hour or day (UTC).")
    ] = None,
) -> SpeedToLead:
    """How fast leads were called and reached.

    Leads in scope: `received_at` in [`from`, `to`), of the `source` / `team`, and, with `rep`,
    with at least one attempt by that rep. Every figure is over these leads and all their
    attempts (by any rep, at any time):

    - `to_first_call`: min(attempts.create_sent_at) - received_at; `to_rep_answered`:
      min(rep_answered_at) - received_at; `to_lead_connected`: min(lead_answered_at) over
      attempts with outcome `connected` - received_at. p50/p90/p99 by `percentile_cont`
      (interpolated), in seconds, over the leads that have the event.
    - `called_within`: share of the leads whose first call was placed at most 5 / 60 / 300 s
      after receipt; leads never called count as not within.
    - `contact_rate`: share of the leads with at least one `connected` attempt.
    - `touches`: attempts per lead, as a distribution and medians for reached (contacted) and
      unreached leads.
    - `outcomes`: attempts by outcome; those without one yet are `in_progress`.
    - `buckets`: with `bucket`, the same figures per date_trunc(bucket, received_at) in UTC,
      empty buckets included (at most 10,000 buckets).
    """
    scope = service.LeadScope(service.window(start, end), source, team, rep, bucket)
    return await service.speed_to_lead(session, scope=scope)


@router.get("/reps", response_model=RepStats)
async def rep_stats(
    session: SessionDep,
    _: ApiKeyDep,
    start: From = None,
    end: To = None,
    team: Annotated[str | None, Query(max_length=100, description="The reps' team.")] = None,
    rep: Annotated[UUID | None, Query(description="Only this rep.")] = None,
) -> RepStats:
    """Per rep, the attempts created in [`from`, `to`) that offered them a lead.

    `offered`: attempts; `answered`: with rep_answered_at; `accepted`: with rep_accepted_at
    (pressed 1); `missed`: outcome rep_no_answer or rep_busy; `connected`: outcome connected;
    `talk_seconds`: sum of talk_seconds; `answer_seconds_p50`: percentile_cont(0.5) of
    rep_answered_at - coalesce(rep_ringing_at, create_sent_at), in seconds. Reps without
    attempts in the window are listed with zeros.
    """
    scope = service.RepScope(service.window(start, end), team, rep)
    return await service.rep_stats(session, scope=scope)
