"""arq's worker, with its job pick-up in one Redis round trip and its Redis traffic on a link.

arq claims each job it polled with WATCH, EXISTS, ZSCORE and MULTI/EXEC: four round trips per
job, one job after another, before a lead's dial may start. The same checks as one script, for
every job of the poll at once, leave one round trip between a poll and its jobs starting.

Each job also starts and finishes with a MULTI/EXEC pipeline, and every poll asks for the due
jobs: through redis-py each costs more CPU than the work Redis does for it (see
app.redis_link). The worker's client sends them over a RedisLink instead, a pipeline as one
script (atomic, as MULTI/EXEC is).
"""

import asyncio
from typing import Any

import uvloop
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker, get_kwargs
from redis.asyncio import ConnectionPool
from redis.asyncio.client import Pipeline

from app.queue import LinkedArqRedis, run_script
from app.redis_link import RedisLink, Script

# arq's run_job keeps a job's try count this long (it is no setting).
RETRY_KEEP_S = 88400
# KEYS: the queue, then each job's in-progress, job and retry keys; ARGV: now (ms), the
# in-progress timeout (ms), whether to start the jobs, then each job id. A job is taken, as arq
# takes it, when it is still queued, due, and not in progress. Starting it is what arq's
# run_job does first (read the job, count the try, keep the count RETRY_KEEP_S): done here, in
# the same round trip. The reply is each taken job's id, score, job and try (0: not started).
CLAIM_JOBS = Script(
    """
local now, start, taken = tonumber(ARGV[1]), ARGV[3] == '1', {}
for i = 0, (#KEYS - 1) / 3 - 1 do
  local id, in_progress = ARGV[4 + i], KEYS[2 + 3 * i]
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score and tonumber(score) <= now and redis.call('EXISTS', in_progress) == 0 then
    redis.call('PSETEX', in_progress, ARGV[2], '1')
    local job, try = false, 0
    if start then
      job = redis.call('GET', KEYS[3 + 3 * i])
      try = redis.call('INCR', KEYS[4 + 3 * i])
      redis.call('EXPIRE', KEYS[4 + 3 * i], RETRY_KEEP_S)
    end
    table.insert(taken, id)
    table.insert(taken, score)
    table.insert(taken, job)
    table.insert(taken, try)
  end
end
return taken
""".replace("RETRY_KEEP_S", str(RETRY_KEEP_S))
)
CLAIM_KEY_PREFIXES = (in_progress_key_prefix, job_key_prefix, retry_key_prefix)


class QuickPickupWorker(Worker):
    async def start_jobs(self, job_ids: list[bytes]) -> None:
        # A job stays in the queue until it finishes, so every poll lists the jobs running here
        # again (a dial is running while its call is placed): asking Redis about them again
        # would cost a round trip per poll and find them in progress.
        ids = [job_id.decode() for job_id in job_ids]
        wanted = await self._reserve_slots([job_id for job_id in ids if not self.runs(job_id)])
        if not wanted:
            return
        keys = [self.queue_name]
        for job_id in wanted:
            keys += [prefix + job_id for prefix in CLAIM_KEY_PREFIXES]
        start = self.starts_on_claim()
        timeout_ms = str(int(self.in_progress_timeout_s * 1000))
        args = [str(timestamp_ms()), timeout_ms, "1" if start else "0", *wanted]
        reply: list[Any] = await run_script(self.pool, CLAIM_JOBS, keys, args)
        taken = {reply[i]: reply[i + 1 : i + 4] for i in range(0, len(reply), 4)}
        for job_id in wanted:
            if (claimed := taken.get(job_id.encode())) is None:  # started elsewhere, finished,
                self._release_sem_dec_counter_on_complete()  # or deferred again meanwhile
                continue
            score, job, job_try = claimed
            if start:  # what run_job's first pipeline asks for, answered
                assert isinstance(self.pool, WorkerRedis)
                self.pool.started[start_words(job_id)] = [job, job_try, True]
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    def starts_on_claim(self) -> bool:
        """Whether the claim may start the jobs: only where run_job's pipeline will take the
        answer (the link's) and asks nothing more (no aborts)."""
        pool = self.pool
        return isinstance(pool, WorkerRedis) and pool.link is not None and not self.allow_abort_jobs

    async def run_job(self, job_id: str, score: int) -> None:
        try:
            await super().run_job(job_id, score)
        finally:  # used by now, unless run_job failed before its pipeline
            if isinstance(self.pool, WorkerRedis):
                self.pool.started.pop(start_words(job_id), None)

    def runs(self, job_id: str) -> bool:
        task = self.tasks.get(job_id)
        return task is not None and not task.done()

    async def _reserve_slots(self, job_ids: list[str]) -> list[str]:
        """A slot under max_jobs for each job, as arq reserves them, until they run out."""
        reserved = []
        for job_id in job_ids:
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                break
            self.job_counter += 1
            reserved.append(job_id)
        return reserved


# A link call that waits longer gives up with redis-py's TimeoutError; redis-py's own client in
# arq waits for ever.
LINK_TIMEOUT_SECONDS = 10.0
# A pipeline's commands, each as its length and then its words, run in order; the replies.
RUN_PIPELINE = Script("""
local replies, i = {}, 1
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  replies[#replies + 1] = redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return replies
""")
# The commands arq's pipelines queue to start and finish a job, by redis-py's method names;
# anything else (the WATCH of a cron job's enqueue) makes the pipeline redis-py's own.
LINKED_COMMANDS = {
    **{name: name.upper() for name in ("get", "incr", "expire", "pexpire", "set", "zrem")},
    "delete": "DEL",
    "zincrby": "ZINCRBY",
}


class LinkPipeline:
    """A pipeline of LINKED_COMMANDS, run as RUN_PIPELINE over the client's link."""

    def __init__(self, client: "WorkerRedis") -> None:
        self.client = client
        self.words: list[Any] = []
        self.own: Pipeline | None = None  # redis-py's, once a command not linked was asked for

    async def __aenter__(self) -> "LinkPipeline":
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.own is not None:
            await self.own.reset()  # type: ignore[no-untyped-call]

    def __getattr__(self, name: str) -> Any:
        if name in LINKED_COMMANDS and self.own is None:
            return lambda *args, **options: self.queue(name, *args, **options)
        if self.own is None:
            assert not self.words, f"{name} after linked commands"
            self.own = LinkedArqRedis.pipeline(self.client)
        return getattr(self.own, name)

    def queue(self, name: str, *args: Any, **options: Any) -> "LinkPipeline":
        words: list[Any] = [LINKED_COMMANDS[name], *args]
        for option, value in options.items():  # set's px=, as arq passes it
            if value is not None:
                words += [option, value]
        self.words += [len(words), *words]
        return self

    async def execute(self) -> list[Any]:
        if self.own is not None:
            return await self.own.execute()
        assert self.client.link is not None
        words, self.words = self.words, []
        if (replies := self.client.started.pop(tuple(words), None)) is not None:
            return replies
        answer: list[Any] = await self.client.link.run_script(RUN_PIPELINE, [], words)
        return answer


def start_words(job_id: str) -> tuple[Any, ...]:
    """The words LinkPipeline queues for run_job's first pipeline (GET, INCR, EXPIRE)."""
    job_key, retry_key = job_key_prefix + job_id, retry_key_prefix + job_id
    return (2, "GET", job_key, 2, "INCR", retry_key, 3, "EXPIRE", retry_key, RETRY_KEEP_S)


class WorkerRedis(LinkedArqRedis):
    """arq's client for the worker: its polls and pipelines over a RedisLink."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Replies of pipelines the claim already ran, by the words they queue: see CLAIM_JOBS.
        self.started: dict[tuple[Any, ...], list[Any]] = {}

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        if self.link is None:
            return super().pipeline(transaction, shard_hint)
        return LinkPipeline(self)

    async def zrangebyscore(  # type: ignore[override]
        self, name: str, min: float, max: float, start: int | None = None, num: int | None = None
    ) -> Any:
        """arq's poll for due jobs."""
        if self.link is None:
            return await super().zrangebyscore(name, min, max, start, num)
        words: list[Any] = [name, bound(min), bound(max)]
        if start is not None and num is not None:
            words += ["LIMIT", start, num]
        return await self.link.call("ZRANGEBYSCORE", *words)


def bound(score: float) -> str:
    return "-inf" if score == float("-inf") else "+inf" if score == float("inf") else repr(score)


def worker_redis(url: str) -> WorkerRedis:
    redis = WorkerRedis(connection_pool=ConnectionPool.from_url(url))
    if RedisLink.supports(url):
        redis.link = RedisLink(url, timeout=LINK_TIMEOUT_SECONDS)
    return redis


def run_worker(settings_cls: type, **options: Any) -> Worker:
    # arq runs on the thread's event loop; uvloop's (as the API's uvicorn uses) spends about a
    # tenth less CPU per dial job than asyncio's pure-Python loop.
    asyncio.set_event_loop(uvloop.new_event_loop())
    worker = QuickPickupWorker(**{**get_kwargs(settings_cls), **options})
    worker.run()
    return worker
