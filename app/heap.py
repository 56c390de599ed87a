"""The garbage collector's settings for FirstRing's long-running processes (API and worker).

With CPython's default young-generation threshold (700 objects) a busy process collects every
few requests and promotes whatever the requests in flight hold at that moment; the promoted
objects then set off a full pass every few seconds, 10-20 ms over the caches a warmed-up
process keeps (prepared statements, compiled SQL), and each lands on some request's latency.
A young generation of 20,000 lets most of a request's objects die first: at 200 leads/s the
API went from 1,785 collections (10 full passes, 730 ms in all) to 31 (no full pass, 100 ms)
over the same run (bench/README.md).
"""

import gc

YOUNG_GENERATION_THRESHOLD = 20_000


def settle_after_startup() -> None:
    """Call once start-up is done: what it built lives as long as the process, so it is kept
    out of every later pass."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)
