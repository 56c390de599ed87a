"""Every figure of the stats endpoints, checked against a small seeded history computed by hand.

Window [2026-01-05, 2026-01-07). Leads in it, seconds after receipt (sc = create_sent_at,
ra = rep_answered_at, la = lead_answered_at):

    L1 web  01-05 10:00  Ann connected (sc 2, ring 3, ra 5, la 10, talk 60)      touches 1, reached
    L2 web  01-05 11:00  Bob rep_no_answer (sc 4); Ann lead_no_answer (sc 30, ring 31, ra 34)
                                                                                  touches 2
    L3 ads  01-05 11:30  Ann rep_busy (sc 50); Ann canceled (sc 60); Bob connected
                         (sc 100, ring 101, ra 103, la 120, talk 30)             touches 3, reached
    L7 web  01-05 12:00  11 failed attempts, no rep (sc 1000..1010)              touches 11
    L4 ads  01-06 10:00  none                                                    touches 0
    L5 web  01-06 12:00  Ann in progress (sc 400, ring 401)                      touches 1

Outside it: L6 (received 1 s before `from`; Ann connected, attempt created 5 s after `from`,
no ringing time, sc 3 s -> ra 7 s after `from`, talk 100) and L8 (received at `to`; Bob
rep_no_answer created after `to`). web is team red, ads team blue; Cid (blue) has no attempts.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.schemas import Outcome
from app.models import Attempt, Lead, Rep, Source
from app.stats import summary
from app.stats.schemas import OutcomeCounts

FROM = datetime(2026, 1, 5, tzinfo=UTC)
TO = datetime(2026, 1, 7, tzinfo=UTC)
WINDOW = {"from": FROM.isoformat(), "to": TO.isoformat()}
T0 = datetime(2026, 1, 5, 10, tzinfo=UTC)


class Seeder:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.phones = 0

    def phone(self) -> str:
        self.phones += 1
        return f"+1415555{self.phones:04d}"

    def lead(self, source: Source, received_at: datetime) -> Lead:
        phone = self.phone()
        lead = Lead(source_id=source.id, phone=phone, phone_raw=phone, received_at=received_at)
        self.session.add(lead)
        return lead

    def attempt(
        self,
        lead: Lead,
        rep: Rep | None,
        outcome: Outcome | None,
        talk: int | None = None,
        **seconds: int,
    ) -> None:
        """An attempt, created 1 s before `created_at` (default: before `create_sent_at`).

        Timestamps in `seconds` are counted from the lead's receipt.
        """
        at = {name: lead.received_at + timedelta(seconds=s) for name, s in seconds.items()}
        created = at.pop("created_at", at["create_sent_at"])
        self.session.add(
            Attempt(
                lead_id=lead.id,
                rep_id=rep.id if rep else None,
                ring_group=uuid.uuid4(),
                routing="longest_idle",
                status="completed" if outcome else "ringing",
                outcome=outcome,
                webhook_received_at=lead.received_at,
                created_at=created - timedelta(seconds=1),
                ended_at=created + timedelta(minutes=5) if outcome else None,
                talk_seconds=talk,
                **at,
            )
        )


@pytest.fixture
async def seeded(session: AsyncSession) -> dict[str, Any]:
    return await seed_history(session)


async def seed_history(session: AsyncSession) -> dict[str, Any]:
    """The history the module's docstring describes, flushed; its reps by name."""
    web = Source(slug="stats-web", name="Web", team="stats-red")
    ads = Source(slug="stats-ads", name="Ads", team="stats-blue")
    ann = Rep(name="Ann", phone="+14155559001", team="stats-red")
    bob = Rep(name="Bob", phone="+14155559002", team="stats-red")
    cid = Rep(name="Cid", phone="+14155559003", team="stats-blue")
    session.add_all([web, ads, ann, bob, cid])
    await session.flush()
    seed = Seeder(session)
    hour, day = timedelta(hours=1), timedelta(days=1)
    l1, l2 = seed.lead(web, T0), seed.lead(web, T0 + hour)
    l3, l7 = seed.lead(ads, T0 + 1.5 * hour), seed.lead(web, T0 + 2 * hour)
    _, l5 = seed.lead(ads, T0 + day), seed.lead(web, T0 + day + 2 * hour)
    l6, l8 = seed.lead(web, FROM - timedelta(seconds=1)), seed.lead(ads, TO)
    await session.flush()
    connected, no_answer = Outcome.connected, Outcome.rep_no_answer
    seed.attempt(
        l1,
        ann,
        connected,
        create_sent_at=2,
        rep_ringing_at=3,
        rep_answered_at=5,
        rep_accepted_at=6,
        lead_answered_at=10,
        talk=60,
    )
    seed.attempt(l2, bob, no_answer, create_sent_at=4)
    seed.attempt(
        l2,
        ann,
        Outcome.lead_no_answer,
        create_sent_at=30,
        rep_ringing_at=31,
        rep_answered_at=34,
        rep_accepted_at=35,
    )
    seed.attempt(l3, ann, Outcome.rep_busy, create_sent_at=50)
    seed.attempt(l3, ann, Outcome.canceled, create_sent_at=60)
    seed.attempt(
        l3,
        bob,
        connected,
        create_sent_at=100,
        rep_ringing_at=101,
        rep_answered_at=103,
        rep_accepted_at=104,
        lead_answered_at=120,
        talk=30,
    )
    for n in range(11):
        seed.attempt(l7, None, Outcome.failed, create_sent_at=1000 + n)
    seed.attempt(l5, ann, None, create_sent_at=400, rep_ringing_at=401)
    seed.attempt(
        l6,
        ann,
        connected,
        create_sent_at=4,
        created_at=7,
        rep_answered_at=8,
        rep_accepted_at=9,
        lead_answered_at=13,
        talk=100,
    )
    seed.attempt(l8, bob, no_answer, create_sent_at=5)
    await session.flush()
    await summary.rebuild(session)  # the dialer keeps it as it goes; seeding skips the dialer
    return {"ann": ann, "bob": bob, "cid": cid}


def distribution(**counts: int) -> list[dict[str, Any]]:
    labels = [str(n) for n in range(10)] + ["10+"]
    return [{"touches": label, "leads": counts.get(f"t{label[:2]}", 0)} for label in labels]


def outcomes(**counts: int) -> dict[str, int]:
    return {name: counts.get(name, 0) for name in OutcomeCounts.model_fields}


def times(p50: float | None, p90: float | None, p99: float | None) -> dict[str, float | None]:
    return {"p50": p50, "p90": p90, "p99": p99}


NOTHING = times(None, None, None)

WHOLE_WINDOW = {
    "leads": 6,
    # first calls 2, 4, 50, 400, 1000 (L4 never called): position p * 4
    "to_first_call": times(50.0, 760.0, 976.0),
    "to_rep_answered": times(34.0, 89.2, 101.62),  # 5, 34, 103
    "to_lead_connected": times(65.0, 109.0, 118.9),  # 10, 120
    "called_within": {"s5": 2 / 6, "s60": 3 / 6, "s300": 3 / 6},
    "contacted": 2,
    "contact_rate": 2 / 6,
    "touches": {
        "distribution": distribution(t0=1, t1=2, t2=1, t3=1, t10=1),
        "median_reached": 2.0,  # 1, 3
        "median_unreached": 1.5,  # 0, 1, 2, 11
    },
    "attempts": 18,
    "outcomes": outcomes(
        connected=2,
        rep_no_answer=1,
        lead_no_answer=1,
        rep_busy=1,
        canceled=1,
        failed=11,
        in_progress=1,
    ),
}

DAY_1 = {
    "leads": 4,
    "to_first_call": times(27.0, 715.0, 971.5),  # 2, 4, 50, 1000: position p * 3
    "to_rep_answered": times(34.0, 89.2, 101.62),
    "to_lead_connected": times(65.0, 109.0, 118.9),
    "called_within": {"s5": 0.5, "s60": 0.75, "s300": 0.75},
    "contacted": 2,
    "contact_rate": 0.5,
    "touches": {
        "distribution": distribution(t1=1, t2=1, t3=1, t10=1),
        "median_reached": 2.0,
        "median_unreached": 6.5,  # 2, 11
    },
    "attempts": 17,
    "outcomes": outcomes(
        connected=2, rep_no_answer=1, lead_no_answer=1, rep_busy=1, canceled=1, failed=11
    ),
}

DAY_2 = {
    "leads": 2,
    "to_first_call": times(400.0, 400.0, 400.0),
    "to_rep_answered": NOTHING,
    "to_lead_connected": NOTHING,
    "called_within": {"s5": 0.0, "s60": 0.0, "s300": 0.0},
    "contacted": 0,
    "contact_rate": 0.0,
    "touches": {
        "distribution": distribution(t0=1, t1=1),
        "median_reached": None,
        "median_unreached": 0.5,
    },
    "attempts": 1,
    "outcomes": outcomes(in_progress=1),
}

EMPTY = {
    "leads": 0,
    "to_first_call": NOTHING,
    "to_rep_answered": NOTHING,
    "to_lead_connected": NOTHING,
    "called_within": {"s5": None, "s60": None, "s300": None},
    "contacted": 0,
    "contact_rate": None,
    "touches": {"distribution": distribution(), "median_reached": None, "median_unreached": None},
    "attempts": 0,
    "outcomes": outcomes(),
}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def stats(client: AsyncClient, api_key: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get(
        "/v1/stats/speed-to-lead", params={**WINDOW, **params}, headers=api_key
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def figures(body: dict[str, Any]) -> dict[str, Any]:
    return {key: body[key] for key in WHOLE_WINDOW}


async def test_speed_to_lead_whole_window(
    client: AsyncClient, api_key: dict[str, str], seeded: dict[str, Any]
) -> None:
    body = await stats(client, api_key)
    assert figures(body) == WHOLE_WINDOW
    assert (body["from"], body["to"], body["bucket"], body["buckets"]) == (
        iso(FROM),
        iso(TO),
        None,
        [],
    )


async def test_speed_to_lead_by_day(
    client: AsyncClient, api_key: dict[str, str], seeded: dict[str, Any]
) -> None:
    body = await stats(client, api_key, bucket="day")
    assert figures(body) == WHOLE_WINDOW
    assert body["buckets"] == [
        {**DAY_1, "start": iso(FROM)},
        {**DAY_2, "start": iso(FROM + timedelta(days=1))},
    ]


async def test_speed_to_lead_by_hour_includes_empty_hours(
    client: AsyncClient, api_key: dict[str, str], seeded: dict[str, Any]
) -> None:
    body = await stats(client, api_key, bucket="hour")
    buckets = {bucket.pop("start"): bucket for bucket in body["buckets"]}
    assert list(buckets) == [iso(FROM + timedelta(hours=h)) for h in range(48)]
    leads = {start: bucket["leads"] for start, bucket in buckets.items() if bucket["leads"]}
    assert leads == {iso(T0 + timedelta(hours=h)): n for h, n in [(0, 1), (1, 2), (2, 1)]} | {
        iso(T0 + timedelta(days=1)): 1,
        iso(T0 + timedelta(days=1, hours=2)): 1,
    }
    eleven = buckets[iso(T0 + timedelta(hours=1))]  # L2 and L3
    assert eleven["to_first_call"] == times(27.0, 45.4, 49.54)  # 4, 50
    assert eleven["touches"]["median_reached"] == 3.0
    assert eleven["touches"]["median_unreached"] == 2.0
    assert buckets[iso(FROM)] == EMPTY


async def test_speed_to_lead_filters(
    client: AsyncClient, api_key: dict[str, str], seeded: dict[str, Any]
) -> None:
    ads = await stats(client, api_key, source="stats-ads")  # L3, L4
    assert (ads["leads"], ads["contacted"], ads["to_first_call"]) == (2, 1, times(50, 50, 50))
    assert ads["touches"]["distribution"] == distribution(t0=1, t3=1)
    assert ads["outcomes"] == outcomes(connected=1, rep_busy=1, canceled=1)
    red = await stats(client, api_key, team="stats-red")  # L1, L2, L5, L7
    assert (red["leads"], red["contacted"], red["attempts"]) == (4, 1, 15)
    assert red["to_first_call"] == times(202.0, 820.0, 982.0)  # 2, 4, 400, 1000
    # Bob worked L2 and L3; every attempt on those leads counts, Ann's too.
    bob = await stats(client, api_key, rep=str(seeded["bob"].id))
    assert (bob["leads"], bob["contacted"], bob["to_rep_answered"]) == (
        2,
        1,
        times(68.5, 96.1, 102.31),
    )
    assert bob["outcomes"] == outcomes(
        connected=1, rep_no_answer=1, lead_no_answer=1, rep_busy=1, canceled=1
    )
    both = await stats(client, api_key, source="stats-ads", team="stats-red")
    assert figures(both) == EMPTY
    cid = await stats(client, api_key, rep=str(seeded["cid"].id))
    assert figures(cid) == EMPTY


async def test_speed_to_lead_default_window_is_the_last_7_days(
    client: AsyncClient, api_key: dict[str, str]
) -> None:
    response = await client.get("/v1/stats/speed-to-lead", headers=api_key)
    assert response.status_code == 200, response.text
    body = response.json()
    start, end = (datetime.fromisoformat(body[key]) for key in ("from", "to"))
    assert end - start == timedelta(days=7)
    assert abs(end - datetime.now(UTC)) < timedelta(minutes=1)
    only_to = await client.get("/v1/stats/speed-to-lead", params={"to": iso(TO)}, headers=api_key)
    assert only_to.json()["from"] == iso(TO - timedelta(days=7))


def rep_row(rep: Rep, **figures: Any) -> dict[str, Any]:
    return {"id": str(rep.id), "name": rep.name, "team": rep.team, **figures}


async def test_rep_stats(
    client: AsyncClient, api_key: dict[str, str], seeded: dict[str, Any]
) -> None:
    ann, bob, cid = seeded["ann"], seeded["bob"], seeded["cid"]
    expected = {
        # a1, a3, a5, a8, a6 and L6's (created in the window although L6 was received before)
        ann.id: rep_row(
            ann,
            offered=6,
            answered=3,
            accepted=3,
            missed=1,
            connected=2,
            talk_seconds=160,
            answer_seconds_p50=3.0,  # 2 (ring 3 -> 5), 3 (31 -> 34), 4 (no ring: sent 4 -> 8)
        ),
        bob.id: rep_row(
            bob,
            offered=2,
            answered=1,
            accepted=1,
            missed=1,
            connected=1,
            talk_seconds=30,
            answer_seconds_p50=2.0,
        ),
        cid.id: rep_row(
            cid,
            offered=0,
            answered=0,
            accepted=0,
            missed=0,
            connected=0,
            talk_seconds=0,
            answer_seconds_p50=None,
        ),
    }
    response = await client.get("/v1/stats/reps", params=WINDOW, headers=api_key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"]) == (iso(FROM), iso(TO))
    ours = [row for row in body["data"] if uuid.UUID(row["id"]) in expected]
    assert ours == list(expected.values())  # ordered by name
    red = await client.get(
        "/v1/stats/reps", params={**WINDOW, "team": "stats-red"}, headers=api_key
    )
    assert red.json()["data"] == [expected[ann.id], expected[bob.id]]
    one = await client.get("/v1/stats/reps", params={**WINDOW, "rep": str(bob.id)}, headers=api_key)
    assert one.json()["data"] == [expected[bob.id]]
    later = await client.get(
        "/v1/stats/reps",
        params={"from": iso(TO), "to": iso(TO + timedelta(days=1)), "rep": str(bob.id)},
        headers=api_key,
    )
    assert later.json()["data"][0]["offered"] == 1  # L8's attempt, created after `to`


async def test_stats_need_an_api_key(client: AsyncClient) -> None:
    for path in ("/v1/stats/speed-to-lead", "/v1/stats/reps"):
        response = await client.get(path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/stats/speed-to-lead", {"bucket": "week"}, "bucket"),
        ("/v1/stats/speed-to-lead", {"from": "2026-01-07", "to": "2026-01-05"}, "from"),
        ("/v1/stats/speed-to-lead", {"from": "2026-01-05", "to": "2026-01-05"}, "from"),
        ("/v1/stats/speed-to-lead", {"from": "yesterday"}, "from"),
        ("/v1/stats/speed-to-lead", {"to": "soon"}, "to"),
        ("/v1/stats/speed-to-lead", {"rep": "bob"}, "rep"),
        ("/v1/stats/speed-to-lead", {"from": "2020-01-01", "bucket": "hour"}, "bucket"),
        ("/v1/stats/reps", {"from": "2026-01-07", "to": "2026-01-05"}, "from"),
        ("/v1/stats/reps", {"rep": "bob"}, "rep"),
    ],
)
async def test_stats_refuse_bad_parameters(
    client: AsyncClient,
    api_key: dict[str, str],
    path: str,
    params: dict[str, str],
    field: str,
) -> None:
    response = await client.get(path, params=params, headers=api_key)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
