"""The worker's one-round-trip pick-up takes a job exactly when arq's own would."""

import asyncio
from typing import Any

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.worker import func

from app.queue import enqueue
from workers.pickup import QuickPickupWorker


async def test_due_jobs_start_once_and_busy_or_deferred_ones_wait(arq_redis: ArqRedis) -> None:
    ran: list[str] = []

    async def record(ctx: dict[str, Any], name: str) -> None:
        ran.append(name)

    for name, defer in (("due", None), ("busy", None), ("later", 60.0), ("also-due", None)):
        assert await enqueue(arq_redis, "record", name, job_id=name, defer_seconds=defer)
    await arq_redis.psetex(in_progress_key_prefix + "busy", 60_000, b"1")  # another worker's
    worker = QuickPickupWorker(
        functions=[func(record, name="record")], redis_pool=arq_redis, max_jobs=10
    )
    ids = [b"due", b"busy", b"later", b"also-due", b"unknown"]
    await worker.start_jobs(ids)
    await asyncio.gather(*worker.tasks.values())
    assert sorted(ran) == ["also-due", "due"]
    await worker.start_jobs(ids)  # a second poll of the same ids: finished jobs are gone
    await asyncio.gather(*worker.tasks.values())
    assert sorted(ran) == ["also-due", "due"]
    assert worker.job_counter == 0  # every slot given back


async def test_a_full_worker_takes_only_what_it_has_slots_for(arq_redis: ArqRedis) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def hold(ctx: dict[str, Any], name: str) -> None:
        started.set()
        await release.wait()

    for name in ("one", "two"):
        assert await enqueue(arq_redis, "hold", name, job_id=name)
    worker = QuickPickupWorker(
        functions=[func(hold, name="hold")], redis_pool=arq_redis, max_jobs=1
    )
    pick = asyncio.create_task(worker.start_jobs([b"one", b"two"]))
    await started.wait()
    assert list(worker.tasks) == ["one"]
    release.set()
    await pick
    await asyncio.gather(*worker.tasks.values())
    assert await arq_redis.exists(in_progress_key_prefix + "one") == 0


async def test_a_job_running_here_listed_again_costs_no_round_trip(arq_redis: ArqRedis) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def hold(ctx: dict[str, Any], name: str) -> None:
        runs.append(name)
        started.set()
        await release.wait()

    assert await enqueue(arq_redis, "hold", "one", job_id="one")
    worker = QuickPickupWorker(
        functions=[func(hold, name="hold")], redis_pool=arq_redis, max_jobs=5
    )
    await worker.start_jobs([b"one"])
    await started.wait()
    scripts = 0
    claim = worker.pool.eval

    def counted(*args: Any) -> Any:
        nonlocal scripts
        scripts += 1
        return claim(*args)

    worker.pool.eval = counted  # type: ignore[method-assign]
    await worker.start_jobs([b"one"])  # the next poll lists it again
    assert scripts == 0 and worker.job_counter == 1
    release.set()
    await asyncio.gather(*worker.tasks.values())
    assert runs == ["one"] and worker.job_counter == 0
