"""Keeps the collector's full passes out of the way of calls in progress.

A busy sandbox holds every live call's tasks, timers and parsed TwiML, and a record of every
call it has made: a few hundred thousand objects, which a full collection walks in 100-250 ms
while calls.create and every webhook wait. So while calls are live, what is alive is frozen out
of the automatic passes (refcounting still frees it when it dies; only garbage cycles wait), and
the full pass runs when the sandbox falls idle, where nobody waits for it. A sandbox that never
falls idle still gets a full pass once the frozen heap has grown by `MAX_FROZEN_GROWTH`.
"""

import asyncio
import gc
from collections.abc import Callable

TICK_S = 1.0
MAX_FROZEN_GROWTH = 2_000_000


class HeapKeeper:
    def __init__(self, busy: Callable[[], bool], *, max_growth: int = MAX_FROZEN_GROWTH) -> None:
        self.busy = busy
        self.max_growth = max_growth
        self.frozen_after_full_pass = 0
        self.owes_full_pass = False
        self.full_passes = 0

    def tick(self) -> None:
        if self.busy() and not self.grown_too_much():
            gc.freeze()
            self.owes_full_pass = True
        elif self.owes_full_pass:
            self.full_pass()

    def grown_too_much(self) -> bool:
        return gc.get_freeze_count() - self.frozen_after_full_pass > self.max_growth

    def full_pass(self) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()  # what survives it is start-up's and the kept records: no need to walk again
        self.frozen_after_full_pass = gc.get_freeze_count()
        self.owes_full_pass = False
        self.full_passes += 1

    async def run(self) -> None:
        self.full_pass()
        while True:
            await asyncio.sleep(TICK_S)
            self.tick()
