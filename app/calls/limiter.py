"""The account's calls-per-second limit, shared by every worker through Redis.

Twilio queues calls beyond the account's CPS and reports it as queue_time; pacing here keeps
the queue (and the delay it adds to speed-to-lead) visible and in our hands.
"""

import asyncio
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.queue import run_script
from app.redis_link import Script

log = logging.getLogger(__name__)

LIMITER_KEY = "firstring:cps:next-slot"
# Each caller takes the next free slot and moves it on by one interval; returns its slot.
TAKE_SLOT = Script("""
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, next_free)
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', 60000)
return tostring(slot)
""")


async def wait_for_call_slot(redis: Redis, calls_per_second: float) -> float:
    """Sleep until this call may leave; returns the seconds waited.

    If Redis is unreachable the call leaves at once: a missed lead costs more than a queued call.
    """
    if calls_per_second <= 0:
        return 0.0
    now = time.time()
    try:
        interval = repr(1 / calls_per_second)
        slot = float(await run_script(redis, TAKE_SLOT, [LIMITER_KEY], [repr(now), interval]))
    except (RedisError, OSError) as exc:
        log.warning("calls-per-second limiter unavailable (%s); placing the call unpaced", exc)
        return 0.0
    wait = slot - now
    if wait > 0:
        await asyncio.sleep(wait)
    return max(wait, 0.0)
