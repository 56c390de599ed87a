"""Wake-ups in Redis: one job per id, and a later ask for an earlier time brings it forward."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from arq.connections import ArqRedis
from arq.constants import default_queue_name

from app.queue import enqueue, enqueue_steps, step_job_id


async def score_of(arq: ArqRedis, job_id: str) -> float | None:
    score: float | None = await arq.zscore(default_queue_name, job_id)
    return score


async def test_a_job_id_is_queued_once_and_brought_forward_never_back(arq_redis: ArqRedis) -> None:
    assert await enqueue(arq_redis, "dial_lead", "x", job_id="dial:x:0", defer_seconds=60)
    later = await score_of(arq_redis, "dial:x:0")
    assert await enqueue(arq_redis, "dial_lead", "x", job_id="dial:x:0", defer_seconds=120)
    assert await score_of(arq_redis, "dial:x:0") == later  # not pushed back
    assert await enqueue(arq_redis, "dial_lead", "x", job_id="dial:x:0")
    sooner = await score_of(arq_redis, "dial:x:0")
    assert later is not None and sooner is not None and sooner < later - 50_000
    assert await arq_redis.zcard(default_queue_name) == 1


async def test_many_steps_are_queued_in_one_go_and_far_ones_left_to_the_sweeper(
    arq_redis: ArqRedis,
) -> None:
    now = datetime.now(UTC)
    soon, later, far = uuid4(), uuid4(), uuid4()
    steps = [(soon, now - timedelta(seconds=5)), (later, now + timedelta(minutes=5))]
    assert await enqueue_steps(arq_redis, [*steps, (far, now + timedelta(days=2))])
    assert await score_of(arq_redis, step_job_id(far)) is None
    due_score = await score_of(arq_redis, step_job_id(soon))
    later_score = await score_of(arq_redis, step_job_id(later))
    assert due_score is not None and later_score is not None
    assert abs(later_score - due_score - 300_000) < 10_000
    assert await enqueue_steps(arq_redis, [(later, now)])  # an edit moved it earlier
    moved = await score_of(arq_redis, step_job_id(later))
    assert moved is not None and moved < later_score - 250_000
    assert await arq_redis.zcard(default_queue_name) == 2
