"""Rate limits of the license endpoints tools call anonymously (verify, activate, deactivate).

Two DRF throttles with their own scopes: ``license_verify_ip`` (``LICENSE_VERIFY_RATE_PER_IP``
per client IP) and ``license_verify_key`` (``LICENSE_VERIFY_RATE_PER_KEY`` per presented key,
counted by the key's HMAC, never the key itself). Fixed windows counted in the cache; with Redis
both throttles' windows are counted in one round trip per request (``INCR``, and ``EXPIRE``
when a window opens, in a Lua script). Over a limit: 429 ``throttled`` with ``Retry-After``
(seconds to the next window).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle

from fmugateway.core.middleware import client_ip
from fmugateway.core.ratelimit import parse_rate, redis_client
from marketplace import keys

# INCR each window's key, setting its expiry when the window opens; one round trip for all.
_INCR_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[i]) end
end
return counts
"""


def count_hits(windows: list[tuple[str, int]]) -> list[int]:
    """Count one request in each ``(key, period)`` window; returns the windows' counts.

    With Redis all windows are counted in one round trip (a small Lua script)."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        full_keys = [cache.make_and_validate_key(key) for key, _ in windows]
        periods = [period + 1 for _, period in windows]
        counts = redis_client(cache).eval(_INCR_SCRIPT, len(full_keys), *full_keys, *periods)
        return [int(count) for count in counts]
    return [_count_hit(key, period) for key, period in windows]


def _count_hit(key: str, period: int) -> int:
    cache = caches["default"]
    if cache.add(key, 1, timeout=period + 1):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        return 1


def _window(throttle_class, request, now: float) -> tuple[str, int, int, float] | None:
    """(cache key, period, limit, seconds to the next window) of one throttle, or None."""
    limit = parse_rate(getattr(settings, throttle_class.rate_setting))
    ident = throttle_class.get_ident(request) if limit is not None else None
    if ident is None:
        return None
    count, period = limit
    key = f"throttle:{throttle_class.scope}:{ident}:{int(now // period)}"
    return key, period, count, period - (now % period)


def _counts(request) -> dict[str, tuple[int, int, float]]:
    """Both license throttles' counts, taken once per request in one cache round trip."""
    cached = getattr(request, "_license_throttle_counts", None)
    if cached is not None:
        return cached
    now = time.time()
    windows = {
        throttle.scope: window
        for throttle in (LicenseIpThrottle, LicenseKeyThrottle)
        if (window := _window(throttle, request, now)) is not None
    }
    hits = count_hits([(key, period) for key, period, _, _ in windows.values()]) if windows else []
    counts = {
        scope: (hit, limit, wait)
        for (scope, (_, _, limit, wait)), hit in zip(windows.items(), hits, strict=True)
    }
    request._license_throttle_counts = counts
    return counts


class _LicenseThrottle(BaseThrottle):
    scope = ""
    rate_setting = ""

    @staticmethod
    def get_ident(request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        counted = _counts(request).get(self.scope)
        if counted is None:
            return True
        hits, limit, self._wait = counted
        return hits <= limit

    def wait(self) -> float:
        return max(1.0, float(round(self._wait)))


class LicenseIpThrottle(_LicenseThrottle):
    scope = "license_verify_ip"
    rate_setting = "LICENSE_VERIFY_RATE_PER_IP"

    @staticmethod
    def get_ident(request) -> str | None:
        return client_ip(request) or "unknown"


class LicenseKeyThrottle(_LicenseThrottle):
    scope = "license_verify_key"
    rate_setting = "LICENSE_VERIFY_RATE_PER_KEY"

    @staticmethod
    def get_ident(request) -> str | None:
        data = request.data
        raw = data.get("key") if hasattr(data, "get") else None
        key_hash = keys.hash_key(raw) if isinstance(raw, str) else None
        return key_hash[:32] if key_hash else None  # malformed keys: the IP limit applies
