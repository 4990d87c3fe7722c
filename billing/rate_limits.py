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
from fmugateway.core.ratelimit import parse_rate, redis_client


def hit(key: str, period: int) -> int:
    """Count one request against ``key`` in its current window; returns the window's count."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        pipe = redis_client(backend).pipeline(transaction=False)
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


def window_key(scope: str, ident: str, period: int, now: float) -> str:
    return f"throttle:{scope}:{ident}:{period}:{int(now // period)}"


class _WindowThrottle(BaseThrottle):
    scope = ""

    def get_limit(self, request, view) -> tuple[int, int] | None:
        raise NotImplementedError

    def get_ident_key(self, request) -> str | None:
        raise NotImplementedError

    def window_key(self, request, view, now: float) -> tuple[str, int, int] | None:
        """(cache key, period, allowed count) of the current window, or None: unlimited."""
        ident = self.get_ident_key(request)
        if ident is None:
            return None
        limit = self.get_limit(request, view)
        if limit is None:
            return None
        count, period = limit
        self._wait = period - (now % period)
        return window_key(self.scope, ident, period, now), period, count

    def allow_request(self, request, view) -> bool:
        window = self.window_key(request, view, time.time())
        if window is None:
            return True
        key, period, allowed = window
        # Authentication may have counted this request already, in its own Redis round trip.
        counted = getattr(request, "_prefetched_hits", {}).pop(key, None)
        return (counted if counted is not None else hit(key, period)) <= allowed

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
        return self.limit_for(request.user)

    @staticmethod
    def limit_for(user) -> tuple[int, int] | None:
        per_minute = plan_for(user).rate_limit_per_minute
        return (per_minute, 60) if per_minute else None


class PrefetchedHits:
    """``AccountRateThrottle``'s window, counted by authentication in its Redis round trip
    (``billing.services.key_cache.HitCounter``); the throttle then reads the count from the
    request instead of asking Redis again."""

    def __init__(self, request):
        self.request = request

    def window(self, user) -> tuple[str, int] | None:
        view = (getattr(self.request, "parser_context", None) or {}).get("view")
        throttles = getattr(view, "throttle_classes", ())
        if not any(issubclass(throttle, AccountRateThrottle) for throttle in throttles):
            return None  # this view does not count requests per account
        limit = AccountRateThrottle.limit_for(user)
        if limit is None:
            return None
        period = limit[1]
        return window_key(
            AccountRateThrottle.scope, account_ident(user), period, time.time()
        ), period

    def record(self, key: str, count: int) -> None:
        hits = getattr(self.request, "_prefetched_hits", None)
        if hits is None:
            hits = self.request._prefetched_hits = {}
        hits[key] = count


class AnonRateThrottle(_WindowThrottle):
    """Requests without credentials: ``API_ANON_THROTTLE_RATE`` per client IP."""

    scope = "anon"

    def get_ident_key(self, request) -> str | None:
        if getattr(request.user, "is_authenticated", False):
            return None
        return client_ip(request) or "unknown"

    def get_limit(self, request, view) -> tuple[int, int] | None:
        # DRF's stubs type the rates as numbers; they are "N/period" strings.
        return parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get("anon"))  # type: ignore[arg-type]
