"""What the execution app calls: price a job, hold its credits, settle or release them.

    amount = quote_job(user, JobLimits(cpu_seconds=60, memory_mb=512, wall_seconds=120))
    reservation = reserve_for_job(user, f"job:{job.pk}", amount)   # 402 insufficient_credits
    ... run ...
    settle_job(reservation, ResourceUsage(cpu_seconds=1.2, memory_mb=80, wall_seconds=1.5))
    # or, when the platform failed the job: release_job(reservation)

All of them are idempotent for Celery retries: reserving the same job again returns the first
reservation; settling/releasing a closed reservation changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AnonymousUser

from accounts.models import User
from billing.models import CreditEntry, Reservation
from billing.services import credits, plans
from billing.services.costs import JobLimits, ModelSizeClass, ResourceUsage, job_cost
from fmugateway.core.errors import ConflictError


def quote_job(
    user: User | AnonymousUser,
    limits: JobLimits | Mapping[str, Any],
    *,
    model_size_class: str = ModelSizeClass.SMALL,
    premium: bool = False,
) -> int:
    """The most a job within ``limits`` (CPU s, memory MiB, wall s) can cost ``user``."""
    return job_cost(limits, plans.plan_for(user), model_size_class, premium)


def reserve_for_job(
    user: User,
    job_reference: str | int,
    amount: int,
    *,
    model_size_class: str = ModelSizeClass.SMALL,
    premium: bool = False,
) -> Reservation:
    """Hold ``amount`` credits (normally ``quote_job(...)``) for the job.

    ``job_reference`` is ``"job:<id>"`` (an int id is turned into that). The pricing inputs and
    the plan's discount are stored on the reservation, so settling prices the run as quoted
    even if the plan changes meanwhile. Raises ``InsufficientCredits`` (402).
    """
    reference = f"job:{job_reference}" if isinstance(job_reference, int) else job_reference
    plan = plans.plan_for(user)
    pricing = {
        "plan": plan.code,
        "discount_bps": plan.discount_bps,
        "model_size_class": str(ModelSizeClass(model_size_class)),
        "premium": bool(premium),
    }
    return credits.reserve(credits.get_account(user), amount, reference, pricing=pricing)


def settle_job(reservation: Reservation, usage: ResourceUsage | Mapping[str, Any]) -> Reservation:
    """Charge the measured ``usage`` (never more than reserved) and release the rest."""
    pricing = reservation.pricing or {}
    cost = job_cost(
        usage,
        int(pricing.get("discount_bps", 0)),
        pricing.get("model_size_class", ModelSizeClass.SMALL),
        bool(pricing.get("premium", False)),
    )
    return credits.settle(reservation, cost)


def release_job(reservation: Reservation) -> Reservation:
    """The platform failed the job: charge nothing and return the whole hold."""
    return credits.release(reservation, memo="Job failed on the platform's side")


def refund_job(
    reservation: Reservation,
    amount: int | None = None,
    *,
    memo: str = "",
    actor: User | None = None,
) -> CreditEntry:
    """Refund a settled job's charge (all of it by default)."""
    if amount is None:
        amount = reservation.charged
    if amount is None:  # still held: nothing was charged yet
        raise ConflictError(
            "Only a settled charge can be refunded.", code="reservation_not_settled"
        )
    return credits.refund(
        reservation.account,
        amount,
        reference=reservation.reference,
        memo=memo,
        actor=actor,
    )
