"""The cost model, plans from pricing_tiers.json, and the job-facing service API."""

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from billing.factories import CreditAccountFactory
from billing.models import AccountPlan
from billing.services import (
    InsufficientCredits,
    JobLimits,
    ResourceUsage,
    change_plan,
    cost_breakdown,
    job_cost,
    model_size_class,
    plan_for,
    quote_job,
    release_job,
    reserve_for_job,
    settle_job,
    tiers,
)
from billing.services.plans import get_tier
from fmugateway.core.models import AuditEntry


def test_pricing_tiers_follow_the_seed_schema():
    loaded = tiers()

    assert [tier.name for tier in loaded] == ["Free", "Pro", "Enterprise"]
    assert loaded.default == "free"
    free, pro = get_tier("free"), get_tier("pro")
    assert free.included_credits == 1000 and free.overage_limit_credits == 0
    assert pro.monthly_price_usd == 249 and pro.discount_bps > 0
    assert get_tier("enterprise").monthly_price_usd == "custom"


def test_a_broken_pricing_file_fails_loudly(settings, tmp_path):
    path = tmp_path / "tiers.json"
    path.write_text(json.dumps({"tiers": [{"code": "x", "included_credits": -1}]}))
    settings.PRICING_TIERS_FILE = path

    with pytest.raises(ImproperlyConfigured, match="included_credits"):
        tiers()


def test_cost_model_items(settings):
    settings.CREDIT_RATE_RUN_SMALL = Decimal(1)
    settings.CREDIT_RATE_RUN_LARGE = Decimal(5)
    settings.CREDIT_RATE_CPU_SECOND = Decimal(1)
    settings.CREDIT_RATE_GB_SECOND = Decimal("0.25")
    settings.CREDIT_RATE_PREMIUM_SURCHARGE_BPS = 5000
    usage = ResourceUsage(cpu_seconds=10, memory_mb=2048, wall_seconds=4)  # 8 GiB*s

    assert job_cost(usage, 0) == 1 + 10 + 2
    assert job_cost(usage, 0, "large") == 5 + 10 + 2
    assert job_cost(usage, 0, "small", premium=True) == 20  # 13 * 1.5 = 19.5, rounded up
    assert job_cost(usage, 1000) == 12  # 13 * 0.9 = 11.7 -> 12
    breakdown = cost_breakdown(usage, get_tier("pro"), "small", premium=True)
    assert breakdown.total == 18  # 19.5 * 0.9 = 17.55 -> 18
    assert Decimal(breakdown.as_dict()["premium_surcharge"]) == Decimal("6.5")


def test_cost_is_monotonic_so_a_quote_bounds_the_run():
    limits = JobLimits(cpu_seconds=60, memory_mb=512, wall_seconds=120)
    within = ResourceUsage(cpu_seconds=59.9, memory_mb=511, wall_seconds=119)

    assert job_cost(within, 0) <= job_cost(limits, 0)
    assert job_cost({"cpu_seconds": 1, "peak_memory_mb": 10, "wall_seconds": 1}, 0) >= 1


def test_model_size_classes(settings):
    settings.CREDIT_SIZE_MEDIUM_BYTES = 100
    settings.CREDIT_SIZE_LARGE_BYTES = 1000

    assert [model_size_class(n) for n in (99, 100, 999, 1000)] == [
        "small",
        "medium",
        "medium",
        "large",
    ]


@pytest.mark.django_db
def test_job_flow_reserves_the_quote_and_settles_measured_usage(user):
    account = CreditAccountFactory(user=user, balance=1000)
    limits = JobLimits(cpu_seconds=60, memory_mb=1024, wall_seconds=120)

    amount = quote_job(user, limits)
    reservation = reserve_for_job(user, 7, amount)
    settled = settle_job(reservation, ResourceUsage(cpu_seconds=2, memory_mb=100, wall_seconds=3))

    account.refresh_from_db()
    assert reservation.reference == "job:7"
    assert amount == 1 + 60 + 30
    assert settled.charged == 1 + 2 + 1  # 0.07 GiB*s rounds the total up
    assert account.balance == 1000 - settled.charged
    assert reserve_for_job(user, 7, amount).pk == reservation.pk  # Celery retry


@pytest.mark.django_db
def test_release_job_returns_everything_and_free_cannot_overdraw(user):
    CreditAccountFactory(user=user, balance=50)

    with pytest.raises(InsufficientCredits):
        reserve_for_job(user, "job:1", 51)
    reservation = reserve_for_job(user, "job:2", 50)
    release_job(reservation)

    assert user.credit_account.entries.order_by("-id").first().amount == 50


@pytest.mark.django_db
def test_settlement_uses_the_discount_quoted_at_reservation(user):
    CreditAccountFactory(user=user, balance=1000)
    reservation = reserve_for_job(user, 1, 100)
    change_plan(user, "enterprise")

    settled = settle_job(reservation, ResourceUsage(cpu_seconds=10))

    assert settled.charged == 11  # free: no discount, although the plan changed since


@pytest.mark.django_db
def test_plan_defaults_to_free_and_bad_standing_falls_back(user):
    assert plan_for(user).code == "free"

    change_plan(user, "pro")
    assert plan_for(user).code == "pro"
    change_plan(user, "pro", status=AccountPlan.Status.PAST_DUE)
    assert plan_for(user).code == "free"


@pytest.mark.django_db
def test_plan_changes_are_audited(user, moderator):
    change_plan(user, "pro", actor=moderator, rate_limit_per_minute_override=9000)

    entry = AuditEntry.objects.get(action="billing.plan.changed")
    assert entry.actor == moderator
    assert entry.before["plan"] == "free"
    assert entry.after == {
        "plan": "pro",
        "status": "active",
        "source": "manual",
        "rate_limit_per_minute_override": 9000,
    }
    assert plan_for(user).rate_limit_per_minute == 9000


@pytest.mark.django_db
def test_unknown_plan_is_refused(user):
    with pytest.raises(Exception, match="no plan"):
        change_plan(user, "platinum")
