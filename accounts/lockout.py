"""Sign-in protection: lockout of password sign-ins and limits on password reset emails.

Password sign-ins (the storefront's and the admin's login forms) are counted by django-axes in
the database (``axes.AccessAttempt``, one row per account, IP and user agent), so staff see them
in the admin and can reset them there. Three counters sum the failures of the last
``LOGIN_COOLOFF_MINUTES``, each against its own limit:

* ``account_ip``: one account from one IP (``LOGIN_FAILURE_LIMIT``), the ordinary guesser;
* ``account``: one account from any IP (``LOGIN_FAILURE_LIMIT_PER_ACCOUNT``), a guesser spread
  over many addresses;
* ``ip``: one IP whatever the account (``LOGIN_FAILURE_LIMIT_PER_IP``), a sprayer trying one
  password on many accounts.

A counter at its limit refuses every sign-in it covers, right password or not, until enough of
its failures are ``LOGIN_COOLOFF_MINUTES`` old. Refused attempts are not counted, so the lock
ends on time even while a stranger keeps trying. The page answers 429 and says when to try
again. A successful sign-in clears that account's failures from that IP (not the IP's other
failures: a sprayer must not reset its counter by signing in to its own account).

Password reset requests are counted in the cache (Redis) in fixed windows per client IP and per
address; the answer over a limit is the same whether or not the address has an account.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.models import User
from fmugateway.core.audit import record
from fmugateway.core.ratelimit import count_fixed_windows, parse_rate

RESET_LIMIT_KEY_PREFIX = "accounts:reset-limit"


# --- Password sign-ins (django-axes) -------------------------------------------------------


def attempted_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The address a sign-in was attempted for, as accounts store it (``AXES_USERNAME_CALLABLE``).

    Lower-cased, so ``Ann@x.org`` and ``ann@x.org`` are one account's failures.
    """
    value = (credentials or {}).get("username")
    if value is None and request is not None:
        value = getattr(request, "POST", {}).get("username")
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower()[:255]


@dataclass(frozen=True)
class Counter:
    """One counter's failures within the cool-off, and when it stops refusing sign-ins."""

    name: str  # account_ip, account or ip
    failures: int
    limit: int
    locked_until: datetime | None  # None: not locked

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


def _limits() -> dict[str, int]:
    return {
        "account_ip": settings.LOGIN_FAILURE_LIMIT,
        "account": settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT,
        "ip": settings.LOGIN_FAILURE_LIMIT_PER_IP,
    }


def _cool_off() -> timedelta:
    return get_cool_off() or timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES)


def _counter(name: str, limit: int, attempts: QuerySet) -> Counter:
    rows = list(
        attempts.order_by("attempt_time").values_list("attempt_time", "failures_since_start")
    )
    total = sum(failures for _, failures in rows)
    locked_until = None
    if total >= limit:
        # A row's failures age out together at its attempt_time + cool-off; the lock ends when
        # the oldest rows have aged out far enough to bring the sum under the limit.
        remaining = total
        for attempt_time, failures in rows:
            remaining -= failures
            if remaining < limit:
                locked_until = attempt_time + _cool_off()
                break
    return Counter(name=name, failures=total, limit=limit, locked_until=locked_until)


def counters(username: str | None, ip_address: str | None, *, since: datetime) -> list[Counter]:
    """The counters covering a sign-in by ``username`` from ``ip_address`` (failures newer than
    ``since``); a counter whose value is unknown (no username, no IP) is left out."""
    recent = AccessAttempt.objects.filter(attempt_time__gte=since)
    limits = _limits()
    result = []
    if username is not None and ip_address is not None:
        pair = recent.filter(username=username, ip_address=ip_address)
        result.append(_counter("account_ip", limits["account_ip"], pair))
    if username is not None:
        result.append(_counter("account", limits["account"], recent.filter(username=username)))
    if ip_address is not None:
        result.append(_counter("ip", limits["ip"], recent.filter(ip_address=ip_address)))
    return result


class SignInAttemptHandler(AxesDatabaseHandler):
    """Axes' database handler with one limit per counter (see the module docstring)."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        # Axes compares this one number with AXES_FAILURE_LIMIT, so each counter reports how far
        # it is from its own limit, shifted onto that scale; the nearest to locking wins.
        states = counters(
            get_client_username(request, credentials),
            request.axes_ip_address,
            since=get_cool_off_threshold(request),
        )
        request.signin_counters = states  # the lockout page and the audit entry read them
        base = settings.AXES_FAILURE_LIMIT
        return max([state.failures - state.limit + base for state in states], default=0)

    def user_logged_in(self, sender, request, user, **kwargs):
        super().user_logged_in(sender, request, user, **kwargs)
        # The user's own typos from this IP no longer count against the next sign-in.
        AccessAttempt.objects.filter(
            username=user.get_username().lower(), ip_address=request.axes_ip_address
        ).delete()


def _locked_until(request: HttpRequest, credentials: dict | None) -> datetime:
    states = getattr(request, "signin_counters", None)
    if states is None:
        states = counters(
            get_client_username(request, credentials),
            getattr(request, "axes_ip_address", None),
            since=timezone.now() - _cool_off(),
        )
    ends = [state.locked_until for state in states if state.locked_until is not None]
    return max(ends) if ends else timezone.now() + _cool_off()


def too_many_attempts_page(
    request: HttpRequest,
    *,
    retry_at: datetime,
    heading: str,
    message: str,
    offer_reset: bool = False,
) -> HttpResponse:
    """The 429 page: what happened and when to try again (with ``Retry-After``)."""
    wait = max(1, int((retry_at - timezone.now()).total_seconds() + 0.999))
    response = render(
        request,
        "registration/too_many_attempts.html",
        {
            "heading": heading,
            "message": message,
            "retry_at": retry_at,
            "wait_minutes": max(1, (wait + 59) // 60),
            "offer_reset": offer_reset,
        },
        status=429,
    )
    response["Retry-After"] = str(wait)
    return response


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the page a refused sign-in gets (status 429)."""
    return too_many_attempts_page(
        request,
        retry_at=_locked_until(request, credentials),
        heading="Too many failed sign-in attempts",
        message=(
            "To protect the account, signing in is paused for this account or from your "
            "network after too many wrong passwords. Nothing was checked this time."
        ),
        offer_reset=True,
    )


def audit_lockout(sender, request, username, ip_address, **kwargs) -> None:
    """Receiver of axes' ``user_locked_out``: one audit entry when a lock begins.

    Axes also sends the signal for each attempt refused while locked; those left
    ``axes_failures_since_start`` unset (no failure was counted) and are not audited again.
    """
    if request is None or getattr(request, "axes_failures_since_start", None) is None:
        return
    states = getattr(request, "signin_counters", None) or []
    locked = [state for state in states if state.locked]
    target = User.objects.filter(email__iexact=username).first() if username else None
    record(
        "accounts.login.locked_out",
        actor=None,
        target=target,
        after={
            "username": username,
            "ip_address": ip_address,
            "path": getattr(request, "path", ""),
            "counters": {
                state.name: {"failures": state.failures, "limit": state.limit} for state in locked
            },
            "locked_until": max((s.locked_until for s in locked), default=None),
        },
        ip=ip_address,
    )


def unlock(*, usernames=(), ip_addresses=(), actor=None) -> int:
    """Forget the failed sign-ins of these accounts (from every IP) and of these IPs (for every
    account), ending their lockouts now; audited. Returns the number of attempt rows removed."""
    usernames = sorted({name.lower() for name in usernames if name})
    ip_addresses = sorted({ip for ip in ip_addresses if ip})
    if not usernames and not ip_addresses:
        return 0
    removed, _ = AccessAttempt.objects.filter(
        Q(username__in=usernames) | Q(ip_address__in=ip_addresses)
    ).delete()
    record(
        "accounts.login.unlocked",
        actor=actor,
        after={"usernames": usernames, "ip_addresses": ip_addresses, "attempts": removed},
    )
    return removed


# --- Password reset emails -----------------------------------------------------------------


@dataclass(frozen=True)
class ResetRefusal:
    scope: str  # ip or address
    retry_at: datetime


def count_password_reset(ip_address: str | None, email: str) -> ResetRefusal | None:
    """Count one password reset request for ``email`` from ``ip_address``; the refusal when the
    IP's or the address's window is over its limit (``PASSWORD_RESET_RATE_PER_*``).

    Counted by the address as typed (normalized), never by account: the answer does not depend
    on whether an account has that address. The first refusal of a window is audited.
    """
    now = time.time()
    address = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    scopes = []
    for scope, ident, rate in (
        ("ip", ip_address or "unknown", settings.PASSWORD_RESET_RATE_PER_IP),
        ("address", address, settings.PASSWORD_RESET_RATE_PER_ADDRESS),
    ):
        limit = parse_rate(rate)
        if limit is not None:
            count, period = limit
            window = int(now // period)
            key = f"{RESET_LIMIT_KEY_PREFIX}:{scope}:{ident}:{period}:{window}"
            scopes.append((scope, key, period, count, (window + 1) * period))
    counts = (
        count_fixed_windows([(key, period) for _, key, period, _, _ in scopes]) if scopes else []
    )
    refusals = [
        (scope, count, limit, ends)
        for (scope, _, _, limit, ends), count in zip(scopes, counts, strict=True)
        if count > limit
    ]
    if not refusals:
        return None
    for refused_scope, count, allowed, _ in refusals:
        if count == allowed + 1:
            record(
                "accounts.password_reset.throttled",
                actor=None,
                after={"scope": refused_scope, "email": email.strip().lower(), "limit": allowed},
            )
    scope, _, _, ends = max(refusals, key=lambda refusal: refusal[3])
    return ResetRefusal(scope=scope, retry_at=datetime.fromtimestamp(ends, tz=UTC))
