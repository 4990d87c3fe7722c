"""What every rate limit shares: the rate syntax, one Redis client per cache backend, and an
exact sliding-window limit (``admit``) for limits that must never be exceeded in any period."""

from __future__ import annotations

import bisect
import hashlib
import secrets
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis import Redis
from redis.exceptions import NoScriptError

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"300/min"`` → (300, 60); empty means unlimited; raises ``ValueError`` on nonsense."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    try:
        return int(count), _PERIODS[period.strip()[:1].lower()]
    except (KeyError, ValueError):
        raise ValueError(f"bad rate {rate!r}; use e.g. 300/min") from None


# One client per backend instance, dropped with it.
_clients: weakref.WeakKeyDictionary[RedisCache, Redis] = weakref.WeakKeyDictionary()


def redis_client(backend: RedisCache) -> Redis:
    """The backend's redis.Redis, built once: Django builds a new one (hundreds of response
    callbacks, ~0.3 ms of Python) on every ``get_client()``. Thread-safe; caches are per thread."""
    client = _clients.get(backend)
    if client is None:
        client = _clients[backend] = backend._cache.get_client(None, write=True)
    return client


# --- sliding log -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlidingLimit:
    """At most ``count`` requests let through in any ``period`` seconds, logged under ``key``
    (a cache key: one per limited ident)."""

    key: str
    count: int
    period: int


def clock() -> float | None:
    """The time the sliding logs are kept on, in seconds; ``None``: Redis's own clock (``TIME``),
    the one every web process shares (the cache fallback then reads ``time.time()``). Tests pin
    it."""
    return None


# Per limit: forget what left the period, count the rest; the request passes only if every log
# has room, and is then logged in all of them (times in µs; a refused request is logged
# nowhere). Answers [passed, wait of limit 1, ...]: µs until that limit has room again (0: now).
# Numbers go to Redis as "%.0f" strings: Lua would print 16-digit µs as "1.7e+15". Writing
# after TIME needs Redis >= 5 (scripts replicate their effects, not their source).
_SLIDING_LOG_SCRIPT = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local answer = {1}
for i, key in ipairs(KEYS) do
  local count, period = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now - period))
  local held = redis.call('ZCARD', key)
  local wait = 0
  if held >= count then
    answer[1] = 0
    wait = period
    if count > 0 then
      local oldest = redis.call('ZRANGE', key, held - count, held - count, 'WITHSCORES')
      wait = tonumber(oldest[2]) + period - now
    end
  end
  answer[i + 1] = wait
end
if answer[1] == 1 then
  local score = string.format('%.0f', now)
  for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, score, ARGV[2])
    redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[2 * i + 2]) / 1000))
  end
end
return answer
"""
_SLIDING_LOG_SHA = hashlib.sha1(_SLIDING_LOG_SCRIPT.encode()).hexdigest()  # noqa: S324
_US = 1_000_000
_local_logs = threading.Lock()


def admit(limits: Sequence[SlidingLimit]) -> list[float]:
    """Let one request through all ``limits`` or through none; returns, per limit, the seconds
    until it has room for a request (all 0: this one passed).

    Guarantees: a request that passes is logged in every limit's log, a refused one in none
    (refusals never push the wait further); no span of ``period`` seconds ever holds more than
    ``count`` passed requests of one log. Memory: a log keeps at most ``count`` times and
    expires a period after its last one. With Redis: one round trip (a Lua script, on Redis's
    clock, atomic across processes). Without: the log is a list in the cache, read and written
    under a process lock: exact within a process; processes sharing a database cache can each
    let a request through between another's read and write.
    """
    if not limits:
        return []
    backend = caches["default"]
    pinned = clock()
    now_us = None if pinned is None else round(pinned * _US)
    if isinstance(backend, RedisCache):
        waits = _admit_in_redis(backend, limits, now_us)
    else:
        waits = _admit_in_cache(
            backend, limits, round(time.time() * _US) if now_us is None else now_us
        )
    return [wait / _US for wait in waits]


def _admit_in_redis(
    backend: RedisCache, limits: Sequence[SlidingLimit], now_us: int | None
) -> list[int]:
    keys = [backend.make_and_validate_key(limit.key) for limit in limits]
    # A member unique to this request: two requests logged in the same µs must both count.
    args = ["" if now_us is None else now_us, secrets.token_hex(8)]
    for limit in limits:
        args += [limit.count, limit.period * _US]
    client = redis_client(backend)
    try:
        answer = client.evalsha(_SLIDING_LOG_SHA, len(keys), *keys, *args)
    except NoScriptError:  # a restarted or flushed Redis: EVAL loads it again
        answer = client.eval(_SLIDING_LOG_SCRIPT, len(keys), *keys, *args)
    return [int(wait) for wait in answer[1:]]


def _admit_in_cache(backend, limits: Sequence[SlidingLimit], now_us: int) -> list[int]:
    with _local_logs:
        stored = backend.get_many([limit.key for limit in limits])
        logs, waits = [], []
        for limit in limits:
            period = limit.period * _US
            log = [at for at in stored.get(limit.key, ()) if at > now_us - period]
            wait = 0
            if len(log) >= limit.count:
                wait = period if limit.count <= 0 else log[len(log) - limit.count] + period - now_us
            logs.append(log)
            waits.append(wait)
        if not any(waits):
            for limit, log in zip(limits, logs, strict=True):
                bisect.insort(log, now_us)
                backend.set(limit.key, log, timeout=limit.period)
        return waits


# INCR each window's key, setting its expiry when the window opens; one round trip for all.
_INCR_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[i]) end
end
return counts
"""


def count_fixed_windows(windows: Sequence[tuple[str, int]]) -> list[int]:
    """Count one event in each ``(key, period)`` fixed window of the default cache; returns
    each window's count (one round trip with Redis, the key expiring with its window)."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        full_keys = [cache.make_and_validate_key(key) for key, _ in windows]
        periods = [period + 1 for _, period in windows]
        return [
            int(count)
            for count in redis_client(cache).eval(
                _INCR_SCRIPT, len(full_keys), *full_keys, *periods
            )
        ]
    counts = []
    for key, period in windows:
        if cache.add(key, 1, timeout=period + 1):
            counts.append(1)
            continue
        try:
            counts.append(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=period + 1)
            counts.append(1)
    return counts
