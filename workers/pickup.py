"""arq's worker, with its job pick-up in one Redis round trip.

arq claims each job it polled with WATCH, EXISTS, ZSCORE and MULTI/EXEC: four round trips per
job, one job after another, before a lead's dial may start. The same checks as one script, for
every job of the poll at once, leave one round trip between a poll and its jobs starting.
"""

import asyncio
from collections.abc import Awaitable
from typing import Any, cast

import uvloop
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker, get_kwargs

# KEYS: the queue, then each job's in-progress key; ARGV: now (ms), the in-progress timeout
# (ms), then each job id. A job is taken, as arq takes it, when it is still queued, due, and
# not in progress; the reply is each taken job's id and score.
CLAIM_JOBS = """
local now, taken = tonumber(ARGV[1]), {}
for i = 2, #KEYS do
  local id = ARGV[i + 1]
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score and tonumber(score) <= now and redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('PSETEX', KEYS[i], ARGV[2], '1')
    table.insert(taken, id)
    table.insert(taken, score)
  end
end
return taken
"""


class QuickPickupWorker(Worker):
    async def start_jobs(self, job_ids: list[bytes]) -> None:
        # A job stays in the queue until it finishes, so every poll lists the jobs running here
        # again (a dial is running while its call is placed): asking Redis about them again
        # would cost a round trip per poll and find them in progress.
        ids = [job_id.decode() for job_id in job_ids]
        wanted = await self._reserve_slots([job_id for job_id in ids if not self.runs(job_id)])
        if not wanted:
            return
        keys = [self.queue_name, *(in_progress_key_prefix + job_id for job_id in wanted)]
        args = [str(timestamp_ms()), str(int(self.in_progress_timeout_s * 1000)), *wanted]
        claim = self.pool.eval(CLAIM_JOBS, len(keys), *keys, *args)
        reply = await cast(Awaitable[list[bytes]], claim)  # the async client's is awaitable
        taken = dict(zip(reply[::2], reply[1::2], strict=True))
        for job_id in wanted:
            score = taken.get(job_id.encode())
            if score is None:  # started elsewhere, finished, or deferred again meanwhile
                self._release_sem_dec_counter_on_complete()
                continue
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

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


def run_worker(settings_cls: type, **options: Any) -> Worker:
    # arq runs on the thread's event loop; uvloop's (as the API's uvicorn uses) spends about a
    # tenth less CPU per dial job than asyncio's pure-Python loop.
    asyncio.set_event_loop(uvloop.new_event_loop())
    worker = QuickPickupWorker(**{**get_kwargs(settings_cls), **options})
    worker.run()
    return worker
