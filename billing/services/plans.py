"""Plans: the tiers in ``pricing_tiers.json`` and which one each account is on."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from accounts.models import User
from billing.models import AccountPlan
from fmugateway.core.audit import record
from fmugateway.core.errors import DomainError

_INT_FIELDS = (
    "included_credits",
    "overage_limit_credits",
    "discount_bps",
    "rate_limit_per_minute",
    "max_job_timeout_seconds",
    "max_sweep_size",
)
_PLAN_CACHE_SECONDS = 300
_V = TypeVar("_V")


@dataclass(frozen=True)
class PlanTier:
    """One pricing tier. Prices may be ``"custom"``/``"negotiated"`` (display only)."""

    code: str
    name: str
    monthly_price_usd: float | str
    included_credits: int
    overage_rate_per_credit_usd: float | str
    overage_limit_credits: int
    discount_bps: int
    rate_limit_per_minute: int
    max_job_timeout_seconds: int
    max_sweep_size: int
    features: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["features"] = list(self.features)
        return data


@dataclass(frozen=True)
class Tiers:
    default: str
    by_code: dict[str, PlanTier]

    def __iter__(self) -> Iterator[PlanTier]:
        return iter(self.by_code.values())


def _parse(data: Any, source: str) -> Tiers:
    def fail(message: str) -> NoReturn:
        raise ImproperlyConfigured(f"{source}: {message}")

    if not isinstance(data, dict) or not isinstance(data.get("tiers"), list) or not data["tiers"]:
        fail('expected {"tiers": [...]} with at least one tier')
    by_code: dict[str, PlanTier] = {}
    for index, raw in enumerate(data["tiers"]):
        if not isinstance(raw, dict):
            fail(f"tier #{index} is not an object")
        code = raw.get("code") or str(raw.get("name", "")).lower()
        if not code or not isinstance(code, str):
            fail(f"tier #{index} has no code or name")
        for field in _INT_FIELDS:
            value = raw.get(field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                fail(f"tier {code!r}: {field} must be a non-negative integer, got {value!r}")
        if raw["discount_bps"] > 10_000:
            fail(f"tier {code!r}: discount_bps cannot exceed 10000")
        if code in by_code:
            fail(f"tier code {code!r} appears twice")
        by_code[code] = PlanTier(
            code=code,
            name=str(raw.get("name") or code.title()),
            monthly_price_usd=raw.get("monthly_price_usd", 0),
            overage_rate_per_credit_usd=raw.get("overage_rate_per_credit_usd", 0),
            features=tuple(str(item) for item in raw.get("features", [])),
            **{field: raw[field] for field in _INT_FIELDS},
        )
    default = data.get("default") or next(iter(by_code))
    if default not in by_code:
        fail(f"default tier {default!r} is not defined")
    return Tiers(default=default, by_code=by_code)


@functools.cache
def _load(path: str, mtime_ns: int) -> Tiers:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(f"PRICING_TIERS_FILE={path!r} cannot be read: {exc}") from None
    return _parse(data, path)


def tiers() -> Tiers:
    """The tiers from ``settings.PRICING_TIERS_FILE`` (re-read when the file changes)."""
    path = Path(settings.PRICING_TIERS_FILE)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise ImproperlyConfigured(f"PRICING_TIERS_FILE={path} cannot be read: {exc}") from None
    return _load(str(path), mtime)


def get_tier(code: str) -> PlanTier:
    loaded = tiers()
    try:
        return loaded.by_code[code]
    except KeyError:
        raise DomainError(f"There is no plan {code!r}.", code="unknown_plan") from None


def price_of_credits(rate: Decimal | float | str, number: int) -> int | None:
    """``number`` credits at an overage ``rate`` (USD per credit) in cents, rounded up; ``None``
    when the rate is not a number (e.g. Enterprise's "negotiated" without an agreed rate)."""
    if not isinstance(rate, (int, float, Decimal)) or isinstance(rate, bool) or rate <= 0:
        return None
    return math.ceil(Decimal(str(rate)) * number * 100)


def default_tier() -> PlanTier:
    loaded = tiers()
    return loaded.by_code[loaded.default]


@dataclass(frozen=True)
class EffectivePlan:
    """A tier with the account's overrides applied: what the account may actually do."""

    tier: PlanTier
    rate_limit_per_minute: int
    included_credits: int
    overage_limit_credits: int
    overage_rate_per_credit_usd: Decimal | float | str

    @property
    def code(self) -> str:
        return self.tier.code

    @property
    def discount_bps(self) -> int:
        return self.tier.discount_bps

    @property
    def max_job_timeout_seconds(self) -> int:
        return self.tier.max_job_timeout_seconds

    @property
    def max_sweep_size(self) -> int:
        return self.tier.max_sweep_size


def effective_plan(row: AccountPlan | None) -> EffectivePlan:
    """The plan an ``AccountPlan`` row (or its absence) stands for.

    Past-due or cancelled subscriptions fall back to the default tier.
    """
    if row is None or not row.is_in_good_standing or row.plan not in tiers().by_code:
        tier = default_tier()
        row = row if row is not None and row.plan == tier.code else None
    else:
        tier = tiers().by_code[row.plan]

    def pick(override: _V | None, base: _V) -> _V:
        return base if override is None else override

    return EffectivePlan(
        tier=tier,
        rate_limit_per_minute=pick(
            row.rate_limit_per_minute_override if row else None, tier.rate_limit_per_minute
        ),
        included_credits=pick(
            row.included_credits_override if row else None, tier.included_credits
        ),
        overage_limit_credits=pick(
            row.overage_limit_credits_override if row else None, tier.overage_limit_credits
        ),
        overage_rate_per_credit_usd=pick(
            row.overage_rate_override_usd if row else None, tier.overage_rate_per_credit_usd
        ),
    )


def account_ident(user: User) -> str:
    """A cache-key identity for ``user``: the id, plus the join time, which guards against a
    reused id (a recreated database) inheriting another account's counters or cached plan."""
    joined = getattr(user, "date_joined", None)
    return f"{user.pk}.{int(joined.timestamp())}" if joined is not None else str(user.pk)


def _cache_key(user: User) -> str:
    return f"billing:plan:{account_ident(user)}"


def plan_for(user: User | AnonymousUser | None) -> EffectivePlan:
    """The effective plan of ``user`` (the default tier for anonymous users or no row).

    Cheap on hot paths: uses the row when authentication already joined it
    (``select_related("owner__account_plan")``), else the cache, else one query.
    """
    if not getattr(user, "is_authenticated", False):
        return effective_plan(None)
    account = getattr(user, "_wrapped", user)  # a request's SimpleLazyObject: the user inside
    assert isinstance(account, User)
    descriptor = type(account).account_plan
    if descriptor.is_cached(account):
        cached = descriptor.related.get_cached_value(account)
        return effective_plan(cached if isinstance(cached, AccountPlan) else None)
    key = _cache_key(account)
    row: AccountPlan | Literal[False] | None = cache.get(key)
    if row is None:
        row = AccountPlan.objects.filter(user_id=account.pk).first() or False
        cache.set(key, row, _PLAN_CACHE_SECONDS)
    return effective_plan(row or None)


def account_plan(user: User) -> AccountPlan:
    """The user's plan row, created on the default tier when missing."""
    row, _ = AccountPlan.objects.get_or_create(user=user, defaults={"plan": tiers().default})
    return row


def change_plan(
    user: User,
    plan: str,
    *,
    actor: User | None = None,
    status: str = AccountPlan.Status.ACTIVE,
    source: str = AccountPlan.Source.MANUAL,
    external_id: str | None = None,
    current_period_start: datetime | None = None,
    current_period_end: datetime | None = None,
    grace_until: datetime | None = None,
    **overrides: int | Decimal | None,
) -> AccountPlan:
    """Put ``user`` on ``plan`` (a tier code) with optional per-account overrides; audited.

    Guarantees: the tier exists; the change and its audit entry commit together; the cached plan
    used by rate limiting is dropped after commit. ``overrides`` are the ``*_override`` fields.
    ``grace_until`` only applies to ``past_due`` (how long the plan is kept); any other status
    clears it.
    """
    get_tier(plan)
    allowed = {
        "rate_limit_per_minute_override",
        "included_credits_override",
        "overage_limit_credits_override",
        "overage_rate_override_usd",
    }
    unknown = set(overrides) - allowed
    if unknown:
        raise TypeError(f"unknown overrides: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        row = account_plan(user)
        row = AccountPlan.objects.select_for_update().get(pk=row.pk)
        fields = ["plan", "status", "source", *overrides]
        if grace_until is not None or row.grace_until is not None:
            fields.append("grace_until")
        before = {field: getattr(row, field) for field in fields}
        row.plan, row.status, row.source = plan, status, source
        row.grace_until = grace_until if status == AccountPlan.Status.PAST_DUE else None
        if external_id is not None:
            row.external_id = external_id
        if current_period_start is not None:
            row.current_period_start = current_period_start
        if current_period_end is not None:
            row.current_period_end = current_period_end
        for field, value in overrides.items():
            setattr(row, field, value)
        row.save()
        record(
            "billing.plan.changed",
            actor=actor,
            target=row,
            before=before,
            after={field: getattr(row, field) for field in fields},
        )
        user.account_plan = row  # refresh the relation cached on this instance
        key = _cache_key(user)
        cache.delete(key)
        transaction.on_commit(lambda: cache.delete(key))
    return row
