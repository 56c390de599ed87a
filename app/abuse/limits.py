"""Counters in Redis, all of a request's in one round trip (one Lua script)."""

import logging
import math
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.queue import run_script
from app.redis_link import Script

log = logging.getLogger(__name__)

# Per key (KEYS[i]) three arguments: its limit, its window in ms, and "1" when every hit
# restarts the window. Stops at the first key over its limit, so a request refused by one
# counter uses up none of the next ones' budget (an abusive address cannot exhaust its source).
COUNT_SCRIPT = Script("""
local hits = {}
for i, key in ipairs(KEYS) do
  local limit, window, sliding = tonumber(ARGV[3*i-2]), ARGV[3*i-1], ARGV[3*i]
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 or sliding == '1' then
    redis.call('PEXPIRE', key, window)
    ttl = tonumber(window)
  end
  hits[#hits + 1] = count
  hits[#hits + 1] = ttl
  if count > limit then break end
end
return hits
""")


@dataclass(frozen=True)
class Counter:
    name: str  # what is counted, for the refusal: "address", "source", "phone"
    key: str
    limit: int
    window_seconds: int
    sliding: bool = False  # every hit restarts the window: "N within any window"


@dataclass(frozen=True)
class Hit:
    counter: Counter
    count: int
    ttl_ms: int

    @property
    def over(self) -> bool:
        return self.count > self.counter.limit

    @property
    def retry_after(self) -> int:
        """Whole seconds until the window resets, at least 1 (the Retry-After header)."""
        return max(1, math.ceil(self.ttl_ms / 1000))


async def count_hits(redis: Redis, counters: list[Counter]) -> list[Hit] | None:
    """Count one hit on each counter, up to the first one over its limit; None if Redis is
    unreachable (the caller lets the request through: a lead is worth more than a limit)."""
    args: list[int | str] = []
    for counter in counters:
        args += [counter.limit, counter.window_seconds * 1000, "1" if counter.sliding else "0"]
    try:
        raw = await run_script(redis, COUNT_SCRIPT, [counter.key for counter in counters], args)
    except (RedisError, OSError) as exc:
        log.warning("intake limits not checked, Redis is unavailable (%s)", exc)
        return None
    values = [int(value) for value in raw]
    return [
        Hit(counter, count, ttl)
        for counter, count, ttl in zip(counters, values[::2], values[1::2], strict=False)
    ]
