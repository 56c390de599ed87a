"""Keeps the collector's full passes out of the way of calls in progress.

A busy sandbox holds every live call's tasks, timers and parsed TwiML, and a record of every
call it has made: a few hundred thousand objects, which a full collection walks in 100-250 ms
while calls.create and every webhook wait. So while calls are live, what is alive is frozen out
of the automatic passes (refcounting still frees it when it dies; only garbage cycles wait), and
the full pass runs when the sandbox falls idle, where nobody waits for it. A sandbox that never
falls idle still gets a full pass every `MAX_BUSY_S`, which bounds the garbage cycles held.
(Time, not the frozen objects' count: gc.get_freeze_count() walks the whole frozen list.)
"""

import asyncio
import gc
import time
from collections.abc import Callable

TICK_S = 1.0
MAX_BUSY_S = 600.0
YOUNG_GENERATION_THRESHOLD = 20_000


class HeapKeeper:
    def __init__(self, busy: Callable[[], bool], *, max_busy_s: float = MAX_BUSY_S) -> None:
        self.busy = busy
        self.max_busy_s = max_busy_s
        self.owes_full_pass = False
        self.frozen_since = 0.0  # the first freeze after the last full pass
        self.full_passes = 0

    def tick(self) -> None:
        if self.busy() and not self.overdue():
            if not self.owes_full_pass:
                self.frozen_since = time.monotonic()
            gc.freeze()
            self.owes_full_pass = True
        elif self.owes_full_pass:
            self.full_pass()

    def overdue(self) -> bool:
        return self.owes_full_pass and time.monotonic() - self.frozen_since > self.max_busy_s

    def full_pass(self) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()  # what survives it is start-up's and the kept records: no need to walk again
        self.owes_full_pass = False
        self.full_passes += 1

    async def run(self) -> None:
        # A young generation of 20,000, as app/heap.py's: most of a request's objects die
        # before a collection, instead of being promoted by one every few requests.
        gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])
        self.full_pass()
        while True:
            await asyncio.sleep(TICK_S)
            self.tick()
