"""The worker's one-round-trip pick-up takes a job exactly when arq's own would."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.constants import (
    default_queue_name,
    in_progress_key_prefix,
    job_key_prefix,
    retry_key_prefix,
)
from arq.worker import Retry, func

from app.config import get_settings
from app.queue import enqueue, run_script
from app.redis_link import Script
from tests.conftest import isolated_redis_url
from workers import pickup
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


async def test_a_job_running_here_listed_again_costs_no_round_trip(
    arq_redis: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
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

    async def counted(*args: Any) -> Any:
        nonlocal scripts
        scripts += 1
        return await run_script(*args)

    monkeypatch.setattr(pickup, "run_script", counted)
    await worker.start_jobs([b"one"])  # the next poll lists it again
    assert scripts == 0 and worker.job_counter == 1
    release.set()
    await asyncio.gather(*worker.tasks.values())
    assert runs == ["one"] and worker.job_counter == 0


@pytest.fixture
async def worker_redis(arq_redis: ArqRedis) -> AsyncIterator[pickup.WorkerRedis]:
    """The worker's own client, on the tests' Redis database."""
    redis = pickup.worker_redis(isolated_redis_url(get_settings().redis_url))
    yield redis
    assert redis.link is not None
    redis.link.close()
    await redis.aclose()
    await redis.connection_pool.disconnect()


async def test_jobs_start_and_finish_over_the_link_alone(
    worker_redis: pickup.WorkerRedis, arq_redis: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    async def record(ctx: dict[str, Any], name: str) -> None:
        ran.append(name)
        if name == "fails":
            raise ValueError("a failed job is finished too")

    for name in ("one", "fails"):
        assert await enqueue(arq_redis, "record", name, job_id=name)
    worker = QuickPickupWorker(
        functions=[func(record, name="record")], redis_pool=worker_redis, max_jobs=5
    )
    assert worker_redis.link is not None
    pipelines, run_script = 0, worker_redis.link.run_script

    async def counted(script: Script, keys: list[str], args: list[Any]) -> Any:
        nonlocal pipelines
        pipelines += script is pickup.RUN_PIPELINE
        return await run_script(script, keys, args)

    monkeypatch.setattr(worker_redis.link, "run_script", counted)
    await worker.start_jobs([b"one", b"fails"])
    await asyncio.gather(*worker.tasks.values())
    assert sorted(ran) == ["fails", "one"]
    # The claim started both jobs (read them, counted their try): one pipeline each, to finish.
    assert pipelines == 2 and worker_redis.started == {}
    for name in ("one", "fails"):  # what arq's finish_job deletes
        keys = [prefix + name for prefix in (job_key_prefix, retry_key_prefix)]
        assert await arq_redis.exists(in_progress_key_prefix + name, *keys) == 0
    assert await arq_redis.zcard(default_queue_name) == 0
    assert worker.jobs_complete == 1 and worker.jobs_failed == 1
    pool = worker_redis.connection_pool  # redis-py's: never used
    assert not pool._available_connections and not pool._in_use_connections


async def test_a_job_asking_to_retry_is_deferred_and_counts_its_try(
    worker_redis: pickup.WorkerRedis, arq_redis: ArqRedis
) -> None:
    async def again(ctx: dict[str, Any]) -> None:
        raise Retry(defer=30)

    assert await enqueue(arq_redis, "again", job_id="again")
    worker = QuickPickupWorker(
        functions=[func(again, name="again")], redis_pool=worker_redis, max_jobs=5
    )
    await worker._poll_iteration()
    await asyncio.gather(*worker.tasks.values())
    score = await arq_redis.zscore(default_queue_name, "again")
    assert score is not None and score > (time.time() + 25) * 1000
    assert await arq_redis.get(retry_key_prefix + "again") == b"1"
    assert await arq_redis.exists(job_key_prefix + "again", in_progress_key_prefix + "again") == 1


async def test_a_job_gone_when_claimed_fails_as_arq_fails_it(
    worker_redis: pickup.WorkerRedis, arq_redis: ArqRedis
) -> None:
    ran: list[str] = []

    async def record(ctx: dict[str, Any], name: str) -> None:
        ran.append(name)

    assert await enqueue(arq_redis, "record", "gone", job_id="gone")
    await arq_redis.delete(job_key_prefix + "gone")  # expired, with its id still queued
    worker = QuickPickupWorker(
        functions=[func(record, name="record")], redis_pool=worker_redis, max_jobs=5
    )
    await worker.start_jobs([b"gone"])
    await asyncio.gather(*worker.tasks.values())
    assert ran == [] and worker.jobs_failed == 1 and worker_redis.started == {}
    assert await arq_redis.zcard(default_queue_name) == 0
    assert await arq_redis.exists(in_progress_key_prefix + "gone", retry_key_prefix + "gone") == 0


async def test_the_poll_reads_the_due_jobs_as_redis_py_does(
    worker_redis: pickup.WorkerRedis, arq_redis: ArqRedis
) -> None:
    for name, defer in (("a", None), ("b", 60.0), ("c", None), ("d", None)):
        assert await enqueue(arq_redis, "record", name, job_id=name, defer_seconds=defer)
    now = (time.time() + 1) * 1000  # past the due jobs (arq rounds scores to the ms)
    for start, num in ((0, 10), (1, 1)):
        linked = await worker_redis.zrangebyscore(
            default_queue_name, float("-inf"), now, start, num
        )
        own = await arq_redis.zrangebyscore(
            default_queue_name, float("-inf"), now, start=start, num=num
        )
        assert linked == own and linked
    assert await worker_redis.zrangebyscore(default_queue_name, 0, float("inf")) == [
        b"a",
        b"c",
        b"d",
        b"b",
    ]


async def test_a_watched_pipeline_is_redis_pys_own(
    worker_redis: pickup.WorkerRedis, arq_redis: ArqRedis
) -> None:
    """arq's enqueue_job (a cron job's) watches the job's key: only redis-py's pipeline can."""
    assert await worker_redis.enqueue_job("sweep", _job_id="sweep:1") is not None
    assert await worker_redis.enqueue_job("sweep", _job_id="sweep:1") is None
    assert await arq_redis.zrange(default_queue_name, 0, -1) == [b"sweep:1"]


async def test_without_a_link_the_worker_is_arqs_own(arq_redis: ArqRedis) -> None:
    redis = pickup.worker_redis(isolated_redis_url(get_settings().redis_url))
    assert redis.link is not None
    redis.link.close()
    redis.link = None
    ran: list[str] = []

    async def record(ctx: dict[str, Any], name: str) -> None:
        ran.append(name)

    assert await enqueue(arq_redis, "record", "one", job_id="one")
    worker = QuickPickupWorker(functions=[func(record, name="record")], redis_pool=redis)
    await worker._poll_iteration()
    await asyncio.gather(*worker.tasks.values())
    assert ran == ["one"] and await arq_redis.zcard(default_queue_name) == 0
    await redis.aclose()
    await redis.connection_pool.disconnect()
