"""Overage: credits a paid account overdrew in a billing cycle, turned into money once.

Paid plans may reserve down to ``-overage_limit_credits``. When a cycle (a calendar month in UTC,
``credits.current_cycle``) has ended, the account's *debt at the cycle's end* is billed at its
plan's overage rate: the balance at that instant, not counting credits then merely held for jobs
still running (those are charged when they settle, in the cycle they settle in). Recording the
charge writes an ``overage`` ledger entry that clears the debt, so the next cycle starts from
zero and no credit is ever billed twice. ``billing.stripe.overage_invoices`` sends the charge to
Stripe.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from billing.models import CreditAccount, CreditEntry, OverageCharge, Reservation
from billing.services import credits, plans
from fmugateway.core.audit import record
from fmugateway.core.errors import DomainError


def cycle_bounds(cycle: str) -> tuple[datetime, datetime]:
    """The first instant of ``cycle`` (``YYYY-MM``) and of the next one, in UTC."""
    try:
        start = datetime.strptime(cycle, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise DomainError(f"{cycle!r} is not a cycle (YYYY-MM).", code="invalid") from None
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def previous_cycle(now: datetime | None = None) -> str:
    """The cycle that ended last (the month before ``now``'s)."""
    start, _ = cycle_bounds(credits.current_cycle(now))
    return credits.current_cycle(start - timedelta(seconds=1))


def debt_at(account: CreditAccount, moment: datetime) -> int:
    """Credits ``account`` owed at ``moment``: minus its balance then, less what jobs running
    then held (0 when it owed nothing). Read from the append-only ledger."""
    last = (
        CreditEntry.objects.filter(account=account, created_at__lt=moment)
        .order_by("-id")
        .values_list("balance_after", flat=True)
        .first()
    )
    held = (
        Reservation.objects.filter(account=account, created_at__lt=moment)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=moment))
        .aggregate(total=Sum("amount"))["total"]
    )
    return max(0, -((last or 0) + (held or 0)))


def close_cycle(
    account: CreditAccount, cycle: str, *, now: datetime | None = None
) -> OverageCharge | None:
    """Record ``account``'s overage for the ended ``cycle``, once.

    Returns the cycle's charge (the existing one on a second call), or ``None`` when nothing is
    billable: no debt at the cycle's end, a plan without overage (Free: its debts, e.g. from a
    refunded credit pack, come out of later grants) or a rate that is not a number (Enterprise's
    "negotiated" until staff set the account's agreed rate, ``overage_rate_override_usd``).
    The charge, its ledger entry clearing the debt and their audit entry commit together under
    the account's row lock.
    """
    _, end = cycle_bounds(cycle)
    if end > (now or timezone.now()):
        raise DomainError(f"Cycle {cycle} has not ended yet.", code="cycle_not_ended")
    with transaction.atomic():
        locked = credits._lock(account)
        existing = OverageCharge.objects.filter(account=locked, cycle=cycle).first()
        if existing is not None:
            return existing
        due = debt_at(locked, end)
        plan = plans.plan_for(locked.user)
        amount = plans.price_of_credits(plan.overage_rate_per_credit_usd, due) if due else None
        if not due or plan.overage_limit_credits == 0 or amount is None:
            return None
        charge = OverageCharge.objects.create(
            account=locked,
            cycle=cycle,
            credits=due,
            amount=amount,
            currency=settings.STRIPE_CURRENCY,
            rate=format(Decimal(str(plan.overage_rate_per_credit_usd)).normalize(), "f"),
            plan=plan.code,
        )
        entry = credits._append(
            locked,
            CreditEntry.Kind.OVERAGE,
            due,
            reference=f"overage:{cycle}",
            memo=f"Overage {cycle}: {due} credits invoiced at {charge.rate} USD",
        )
        record(
            "billing.overage.recorded",
            target=charge,
            after={
                "cycle": cycle,
                "credits": due,
                "amount": amount,
                "currency": charge.currency,
                "entry": entry.pk,
            },
        )
    return charge
