"""Lockout of failed API-key presentations: per key id from one client IP, and per client IP.

API-key authentication runs on every API request, so every endpoint is a place to guess. A failed
presentation (unknown key id, wrong secret, malformed key) is counted in two windows of
``API_KEY_LOCKOUT_MINUTES``, each opened by its first failure:

* the key id from this IP: at ``API_KEY_FAILURE_LIMIT`` that key id is refused from this IP;
* this IP, whatever the key: at ``API_KEY_FAILURE_LIMIT_PER_IP`` every key is refused from it.

Refused means 429 ``too_many_attempts`` with ``Retry-After``, right secret or not, until
``API_KEY_LOCKOUT_MINUTES`` after the failure that set the lock; presentations refused meanwhile
are not counted, so the lock ends on time. The first failure after it opens a new window.

A key id is never locked for every IP: a secret has 256 bits, so spreading guesses over many
addresses gains nothing, while such a lock would let anyone who saw a key id (it is in the key
list, in logs) stop its owner's pipelines. Revoked, expired and disabled keys are not failures:
their secret was right.

Cost: a successful presentation reads its two locks in the Redis round trip that already reads
the owner's revocation stamp (``key_cache.read_state``); only a failure adds a round trip (one
Lua script: check the locks, count, set a lock at a limit). Without a Redis cache the cache API
is used, one more cache read per request. Lock values are the Unix time the lock ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache

from accounts.models import User
from billing.models import ApiKey
from fmugateway.core.audit import record
from fmugateway.core.ratelimit import redis_client

KEY_PREFIX = "billing:key-lockout"

# KEYS: lock keys, then their counters in the same order. ARGV: now, window, one limit per lock.
# Returns {locked until (0: not locked), then per lock the count that just set it, or 0}.
_FAIL_SCRIPT = """
local n = #KEYS / 2
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local locked_until = 0
for i = 1, n do
  local ends = tonumber(redis.call('GET', KEYS[i]) or '0')
  if ends > now and ends > locked_until then locked_until = ends end
end
local result = {0}
for i = 1, n do result[i + 1] = 0 end
if locked_until > 0 then
  result[1] = locked_until
  return result
end
for i = 1, n do
  local count = redis.call('INCR', KEYS[n + i])
  if count == 1 then redis.call('EXPIRE', KEYS[n + i], window) end
  if count >= tonumber(ARGV[2 + i]) then
    redis.call('SET', KEYS[i], now + window, 'EX', window)
    redis.call('DEL', KEYS[n + i])
    locked_until = now + window
    result[i + 1] = count
  end
end
result[1] = locked_until
return result
"""


# (scope, lock key, counter key, limit)
_Scope = tuple[str, str, str, int]


def _scopes(public_id: str | None, ip: str | None) -> list[_Scope]:
    """(scope, lock key, counter key, limit) of each window a presentation is counted in."""
    ip = ip or "unknown"
    scopes = [
        (
            "ip",
            f"{KEY_PREFIX}:lock:ip:{ip}",
            f"{KEY_PREFIX}:count:ip:{ip}",
            settings.API_KEY_FAILURE_LIMIT_PER_IP,
        )
    ]
    if public_id:
        scopes.append(
            (
                "key_and_ip",
                f"{KEY_PREFIX}:lock:key:{public_id}:{ip}",
                f"{KEY_PREFIX}:count:key:{public_id}:{ip}",
                settings.API_KEY_FAILURE_LIMIT,
            )
        )
    return scopes


def lock_keys(public_id: str | None, ip: str | None) -> list[str]:
    """The cache keys of the locks that would refuse ``public_id`` presented from ``ip``."""
    return [lock for _, lock, _, _ in _scopes(public_id, ip)]


def wait_seconds(
    values: Iterable[bytes | str | int | None], now: float | None = None
) -> int | None:
    """Seconds until the last of these locks (raw cache values: end times) ends; None: none
    holds."""
    now = time.time() if now is None else now
    ends = [int(value) for value in values if value is not None]
    remaining = max(ends, default=0) - now
    return max(1, int(remaining + 0.999)) if remaining > 0 else None


def locked_for(public_id: str | None, ip: str | None) -> int | None:
    """Seconds until ``public_id`` may be presented from ``ip`` again; None: it may now. For the
    path without a Redis cache (with one, ``key_cache.read_state`` reads the locks)."""
    return wait_seconds(caches["default"].get_many(lock_keys(public_id, ip)).values())


def _window() -> int:
    return settings.API_KEY_LOCKOUT_MINUTES * 60


def record_failure(public_id: str | None, ip: str | None) -> int | None:
    """Count one failed presentation of ``public_id`` (None: malformed key) from ``ip``.

    Returns the seconds to wait when a lock refuses it (one already held: then nothing is
    counted), or when this failure set one (audited as ``billing.api_key.locked_out``).
    """
    scopes = _scopes(public_id, ip)
    now = int(time.time())
    window = _window()
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        full = [cache.make_and_validate_key(lock) for _, lock, _, _ in scopes]
        full += [cache.make_and_validate_key(count) for _, _, count, _ in scopes]
        result = redis_client(cache).eval(
            _FAIL_SCRIPT, len(full), *full, now, window, *[limit for *_, limit in scopes]
        )
        locked_until, new_locks = int(result[0]), [int(count) for count in result[1:]]
    else:
        locked_until, new_locks = _record_with_cache_api(cache, scopes, now, window)
    for (scope, _, _, limit), count in zip(scopes, new_locks, strict=True):
        if count:
            _audit(scope, public_id, ip, count, limit, locked_until)
    return wait_seconds([locked_until], now) if locked_until else None


def _record_with_cache_api(
    cache: BaseCache, scopes: list[_Scope], now: int, window: int
) -> tuple[int, list[int]]:
    held = wait_seconds(cache.get_many([lock for _, lock, _, _ in scopes]).values(), now)
    if held is not None:
        return now + held, [0] * len(scopes)
    locked_until, new_locks = 0, []
    for _, lock, counter, limit in scopes:
        if cache.add(counter, 1, timeout=window):
            count = 1
        else:
            try:
                count = cache.incr(counter)
            except ValueError:  # expired between add and incr
                cache.add(counter, 1, timeout=window)
                count = 1
        if count >= limit:
            cache.set(lock, now + window, timeout=window)
            cache.delete(counter)
            locked_until = now + window
        new_locks.append(count if count >= limit else 0)
    return locked_until, new_locks


def _audit(
    scope: str, public_id: str | None, ip: str | None, count: int, limit: int, locked_until: int
) -> None:
    key = ApiKey.objects.filter(public_id=public_id).first() if public_id else None
    record(
        "billing.api_key.locked_out",
        actor=None,
        target=key,
        after={
            "scope": scope,
            "key_id": public_id,
            "ip_address": ip,
            "failures": count,
            "limit": limit,
            "locked_until": datetime.fromtimestamp(locked_until, tz=UTC),
        },
        ip=ip,
    )


def reset(*, ip: str | None = None, key_id: str | None = None, actor: User | None = None) -> int:
    """End the lockouts (and forget the failures) of ``ip`` and/or ``key_id``; with neither,
    of everyone. Audited; returns the number of locks and counters removed."""
    cache = caches["default"]
    if key_id and ip:
        patterns = [f"{KEY_PREFIX}:*:key:{key_id}:{ip}", f"{KEY_PREFIX}:*:ip:{ip}"]
    elif key_id:
        patterns = [f"{KEY_PREFIX}:*:key:{key_id}:*"]
    elif ip:
        patterns = [f"{KEY_PREFIX}:*:ip:{ip}", f"{KEY_PREFIX}:*:key:*:{ip}"]
    else:
        patterns = [f"{KEY_PREFIX}:*"]
    if isinstance(cache, RedisCache):
        client = redis_client(cache)
        found = {
            name
            for pattern in patterns
            for name in client.scan_iter(match=cache.make_and_validate_key(pattern), count=1000)
        }
        removed = client.delete(*found) if found else 0
    else:  # the database cache cannot list keys: only exact ones can be removed
        names = [key for s in _scopes(key_id, ip) for key in s[1:3]] if ip else []
        removed = sum(1 for name in names if cache.delete(name))
    record(
        "billing.api_key.lockout_reset",
        actor=actor,
        after={"ip_address": ip, "key_id": key_id, "removed": removed},
    )
    return removed
