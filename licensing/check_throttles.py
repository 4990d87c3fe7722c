"""Rate limits of the license endpoints tools call anonymously (verify, activate, deactivate).

Two DRF throttles with their own scopes: ``license_verify_ip`` (``LICENSE_VERIFY_RATE_PER_IP``
per client IP) and ``license_verify_key`` (``LICENSE_VERIFY_RATE_PER_KEY`` per presented key,
counted by the key's HMAC, never the key itself).

Sliding windows, exact: each ident keeps a log of the requests it was let through in the last
period (``fmugateway.core.ratelimit.admit``: a Redis sorted set per ident, on Redis's clock), and
a request passes only when both its logs have room; it is then logged in both. So no 60-second
span ever lets more than the limit through for one IP or one key: the margin is zero (fixed
one-minute windows let up to twice the limit through across a minute boundary). A refused
request is logged nowhere, so hammering a limit does not push it further away. Both throttles
are checked in one Redis round trip per request. Memory: a log holds at most the limit's count
(an IP at 600/min: up to 600 sorted-set members, ~80 KB in Redis; a key at 60/min: 60, ~2 KB)
and expires a period after its last request. Over a limit: 429 ``throttled`` with
``Retry-After``, the whole seconds (rounded up) until the oldest logged request leaves the window
and a request would pass. Without Redis the logs live in the default cache, exact within one
process.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from fmugateway.core.middleware import client_ip
from fmugateway.core.ratelimit import SlidingLimit, admit, parse_rate
from licensing import license_keys


def _limit(throttle_class, request) -> SlidingLimit | None:
    """The sliding limit of one throttle for this request, or None: no limit applies."""
    rate = parse_rate(getattr(settings, throttle_class.rate_setting))
    if rate is None:
        return None
    ident = throttle_class.get_ident(request)
    if ident is None:
        return None
    count, period = rate
    return SlidingLimit(f"throttle:{throttle_class.scope}:{ident}", count, period)


def _waits(request) -> dict[str, float]:
    """Both license throttles' waits (0: room), taken once per request in one cache round trip;
    the request is logged in both only when both have room."""
    cached = getattr(request, "_license_throttle_waits", None)
    if cached is not None:
        return cached
    limits = {
        throttle.scope: limit
        for throttle in (LicenseIpThrottle, LicenseKeyThrottle)
        if (limit := _limit(throttle, request)) is not None
    }
    waits = dict(zip(limits, admit(list(limits.values())), strict=True))
    request._license_throttle_waits = waits
    return waits


class _LicenseThrottle(BaseThrottle):
    scope = ""
    rate_setting = ""

    @staticmethod  # None: the request is not limited (DRF's own throttles always answer one)
    def get_ident(request) -> str | None:  # type: ignore[override]
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        self._wait = _waits(request).get(self.scope, 0.0)
        return self._wait <= 0

    def wait(self) -> float:
        return self._wait  # DRF rounds it up into Retry-After


class LicenseIpThrottle(_LicenseThrottle):
    scope = "license_verify_ip"
    rate_setting = "LICENSE_VERIFY_RATE_PER_IP"

    @staticmethod  # None: the request is not limited (DRF's own throttles always answer one)
    def get_ident(request) -> str | None:  # type: ignore[override]
        return client_ip(request) or "unknown"


class LicenseKeyThrottle(_LicenseThrottle):
    scope = "license_verify_key"
    rate_setting = "LICENSE_VERIFY_RATE_PER_KEY"

    @staticmethod  # None: the request is not limited (DRF's own throttles always answer one)
    def get_ident(request) -> str | None:  # type: ignore[override]
        data = request.data
        raw = data.get("key") if hasattr(data, "get") else None
        key_hash = license_keys.hash_key(raw) if isinstance(raw, str) else None
        return key_hash[:32] if key_hash else None  # malformed keys: the IP limit applies
