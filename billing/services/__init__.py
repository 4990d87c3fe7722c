"""Billing's domain verbs. Views, admin actions, tasks and other apps call these.

For the execution app: ``quote_job``, ``reserve_for_job``, ``settle_job``, ``release_job``
(see ``billing.services.job_charges``), ``plan_for(user)`` for plan limits, and
``InsufficientCredits``.
"""

from billing.services.api_keys import create_api_key, revoke_api_key
from billing.services.costs import (
    CostBreakdown,
    JobLimits,
    ModelSizeClass,
    ResourceUsage,
    cost_breakdown,
    job_cost,
    model_size_class,
)
from billing.services.credits import (
    InsufficientCredits,
    LedgerCheck,
    adjust,
    balance_of,
    current_cycle,
    get_account,
    grant_monthly_credits,
    purchase_credits,
    recompute_balance,
    refund,
    release,
    reserve,
    settle,
)
from billing.services.job_charges import (
    quote_job,
    refund_job,
    release_job,
    reserve_for_job,
    settle_job,
)
from billing.services.plans import EffectivePlan, PlanTier, change_plan, plan_for, tiers
from billing.services.quotes import Quote, quote

__all__ = [
    "CostBreakdown",
    "EffectivePlan",
    "InsufficientCredits",
    "JobLimits",
    "LedgerCheck",
    "ModelSizeClass",
    "PlanTier",
    "Quote",
    "ResourceUsage",
    "adjust",
    "balance_of",
    "change_plan",
    "cost_breakdown",
    "create_api_key",
    "current_cycle",
    "get_account",
    "grant_monthly_credits",
    "job_cost",
    "model_size_class",
    "plan_for",
    "purchase_credits",
    "quote",
    "quote_job",
    "recompute_balance",
    "refund",
    "refund_job",
    "release",
    "release_job",
    "reserve",
    "reserve_for_job",
    "revoke_api_key",
    "settle",
    "settle_job",
    "tiers",
]
