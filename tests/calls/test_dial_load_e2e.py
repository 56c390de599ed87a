"""Many leads, several workers, a worker killed: no rep double-booked, no lead called twice."""

import asyncio
import signal
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from tests.calls.conftest import Stack, eventually, start_worker, stop_worker

REPS = [f"+1415555020{i}" for i in range(5)]
ACCEPT = {"answer": "human", "answer_after_s": 1, "digits": "1"}


def lead_phone(i: int) -> str:
    return f"+1415556{i:04d}"


async def seed(stack: Stack, lead_count: int) -> list[str]:
    await stack.add_source()
    for i, phone in enumerate(REPS):
        await stack.add_rep(f"Rep {i}", phone)
        await stack.script(phone, **ACCEPT)
    sends = [stack.send_lead(lead_phone(i)) for i in range(lead_count)]
    return list(await asyncio.gather(*sends))


async def all_connected(stack: Stack, lead_ids: list[str]) -> bool:
    async with stack.sessions() as session:
        from sqlalchemy import func, select

        from app.models import Lead

        connected = await session.scalar(
            select(func.count()).where(Lead.id.in_(lead_ids), Lead.status == "connected")
        )
    return connected == len(lead_ids)


def live_intervals(calls: list[dict[str, Any]]) -> list[tuple[datetime, datetime]]:
    spans = []
    for call in calls:
        times = [datetime.fromisoformat(s["at"]) for s in call["statuses"]]
        spans.append((datetime.fromisoformat(call["requested_at"]), max(times)))
    return sorted(spans)


def overlaps(spans: list[tuple[datetime, datetime]]) -> int:
    return sum(1 for (_, end), (start, _) in zip(spans, spans[1:], strict=False) if start < end)


async def assert_dialed_once_each(stack: Stack, lead_ids: list[str], lead_count: int) -> None:
    calls: list[dict[str, Any]] = (await stack.control.get("/_sandbox/calls")).json()["calls"]
    by_phone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        by_phone[call["to"]].append(call)
    for rep in REPS:
        assert overlaps(live_intervals(by_phone[rep])) == 0, f"{rep} was in two calls at once"
    lead_calls = Counter(call["to"] for call in calls if call["to"] not in REPS)
    assert lead_calls == {lead_phone(i): 1 for i in range(lead_count)}
    rep_calls = sum(len(by_phone[rep]) for rep in REPS)
    # Every rep accepts, so one rep call per lead, give or take a claim whose lease ran out
    # under load (that rep call is hung up; the lead itself is still called once).
    assert lead_count <= rep_calls <= lead_count * 1.05


async def test_two_workers_200_leads_5_reps(stack: Stack) -> None:
    second = start_worker()
    try:
        lead_ids = await seed(stack, 200)
        await eventually(lambda: all_connected(stack, lead_ids), 90, "all 200 leads connected")
    finally:
        stop_worker(second)
    await assert_dialed_once_each(stack, lead_ids, 200)


async def test_a_worker_killed_mid_job_leaves_every_lead_dialed_once(stack: Stack) -> None:
    doomed = start_worker()
    try:
        await asyncio.sleep(1)  # let it start polling, so it takes its share of the jobs
        lead_ids = await seed(stack, 40)
        await asyncio.sleep(0.3)
        doomed.send_signal(signal.SIGKILL)
        await eventually(lambda: all_connected(stack, lead_ids), 60, "all leads connected")
    finally:
        stop_worker(doomed)
    await assert_dialed_once_each(stack, lead_ids, 40)
