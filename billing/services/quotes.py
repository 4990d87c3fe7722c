"""Quotes: what a run would cost an account, and whether it can afford it now."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accounts.models import User
from billing.services import plans
from billing.services.costs import CostBreakdown, ModelSizeClass, ResourceUsage, cost_breakdown
from billing.services.credits import get_account


@dataclass(frozen=True)
class Quote:
    credits: int
    breakdown: CostBreakdown
    plan: str
    balance: int
    available: int  # balance plus the plan's overage allowance

    @property
    def sufficient(self) -> bool:
        return self.credits <= self.available


def quote(
    user: User,
    usage: ResourceUsage | Mapping[str, Any],
    *,
    model_size_class: str = ModelSizeClass.SMALL,
    premium: bool = False,
) -> Quote:
    """Price ``usage`` (or a job's limits) on the user's plan. Reserves nothing."""
    plan = plans.plan_for(user)
    breakdown = cost_breakdown(usage, plan, model_size_class, premium)
    balance = get_account(user).balance
    return Quote(
        credits=breakdown.total,
        breakdown=breakdown,
        plan=plan.code,
        balance=balance,
        available=balance + plan.overage_limit_credits,
    )
