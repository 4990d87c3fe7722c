"""Rate limits: per account at the plan's ``rate_limit_per_minute``, per IP without credentials.

Fixed one-minute windows counted in the cache (``INCR`` + ``EXPIRE`` in one Redis round trip):
O(1) per request whatever the rate, unlike DRF's timestamp-list throttles. A window may let up
to twice the rate through across its boundary; that is the accepted price of O(1). Over the
limit the answer is 429 ``throttled`` with ``Retry-After`` (seconds to the next window).
"""

from __future__ import annotations

import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from billing.services.plans import account_ident, plan_for
from fmugateway.core.middleware import client_ip

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"300/min"`` → (300, 60); ``None`` means unlimited."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    try:
        return int(count), _PERIODS[period.strip()[:1].lower()]
    except (KeyError, ValueError):
        raise ValueError(f"bad throttle rate {rate!r}; use e.g. 300/min") from None


def hit(key: str, period: int) -> int:
    """Count one request against ``key`` in its current window; returns the window's count."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        # Django builds a new redis.Redis per call (~0.3 ms of Python); keep one per backend.
        client = getattr(backend, "_throttle_client", None)
        if client is None:
            client = backend._throttle_client = backend._cache.get_client(full_key, write=True)
        pipe = client.pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, period + 1)
        count, _ = pipe.execute()
        return int(count)
    if backend.add(key, 1, timeout=period + 1):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.add(key, 1, timeout=period + 1)
        return 1


class _WindowThrottle(BaseThrottle):
    scope = ""

    def get_limit(self, request, view) -> tuple[int, int] | None:
        raise NotImplementedError

    def get_ident_key(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        ident = self.get_ident_key(request)
        if ident is None:
            return True
        limit = self.get_limit(request, view)
        if limit is None:
            return True
        count, period = limit
        now = time.time()
        window = int(now // period)
        self._wait = period - (now % period)
        return hit(f"throttle:{self.scope}:{ident}:{period}:{window}", period) <= count

    def wait(self) -> float:
        return max(1.0, round(self._wait))


class AccountRateThrottle(_WindowThrottle):
    """Authenticated requests: the account's plan rate per minute."""

    scope = "account"

    def get_ident_key(self, request) -> str | None:
        user = request.user
        if not getattr(user, "is_authenticated", False):
            return None
        return account_ident(user)

    def get_limit(self, request, view) -> tuple[int, int] | None:
        per_minute = plan_for(request.user).rate_limit_per_minute
        return (per_minute, 60) if per_minute else None


class AnonRateThrottle(_WindowThrottle):
    """Requests without credentials: ``API_ANON_THROTTLE_RATE`` per client IP."""

    scope = "anon"

    def get_ident_key(self, request) -> str | None:
        if getattr(request.user, "is_authenticated", False):
            return None
        return client_ip(request) or "unknown"

    def get_limit(self, request, view) -> tuple[int, int] | None:
        return parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get("anon"))
