"""The creators' earnings ledger: append-only rows, a sale (+) and its reversals (-).

The platform keeps ``floor(gross × platform_fee_bps / 10000)`` of a sale; the creator earns the
rest. A reversal takes back the same proportion of the refunded amount, and the reversal that
completes a line's refund takes back exactly what is left of that line's earnings, so a fully
refunded line always nets to zero.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from marketplace.models import Creator, CreatorEarning, OrderLine, Refund


def platform_fee(amount: int, fee_bps: int) -> int:
    return amount * fee_bps // 10000


def _creator_for(line: OrderLine) -> Creator | None:
    return Creator.objects.filter(user_id=line.package.owner_id).first()


def record_sale(line: OrderLine) -> CreatorEarning | None:
    """Credit the creator for a paid line (once: a second call returns the first row)."""
    if line.amount <= 0:
        return None
    existing = CreatorEarning.objects.filter(order_line=line, kind=CreatorEarning.Kind.SALE).first()
    if existing is not None:
        return existing
    creator = _creator_for(line)
    if creator is None:  # listings can only be made by creators; a missing profile is a bug
        raise RuntimeError(f"order line {line.pk}: the package owner has no creator profile")
    fee = platform_fee(line.amount, line.platform_fee_bps)
    hold = timedelta(days=settings.CREATOR_EARNINGS_HOLD_DAYS)
    return CreatorEarning.objects.create(
        creator=creator,
        order_line=line,
        kind=CreatorEarning.Kind.SALE,
        currency=line.currency,
        gross_amount=line.amount,
        platform_fee_amount=fee,
        net_amount=line.amount - fee,
        available_at=timezone.now() + hold,
    )


def record_reversal(
    line: OrderLine, refund: Refund, amount: int, *, completes_line: bool
) -> CreatorEarning | None:
    """Debit the creator for ``amount`` refunded on ``line`` (negative amounts)."""
    if amount <= 0:
        return None
    totals = CreatorEarning.objects.filter(order_line=line).aggregate(
        gross=Sum("gross_amount"), fee=Sum("platform_fee_amount"), net=Sum("net_amount")
    )
    if totals["gross"] is None:
        return None  # nothing was earned (free line)
    if completes_line:
        gross, fee = totals["gross"], totals["fee"]
    else:
        gross = min(amount, totals["gross"])
        fee = min(platform_fee(gross, line.platform_fee_bps), totals["fee"])
    if gross <= 0:
        return None
    kind = (
        CreatorEarning.Kind.CHARGEBACK
        if refund.kind == Refund.Kind.CHARGEBACK
        else CreatorEarning.Kind.REFUND
    )
    creator = (
        CreatorEarning.objects.filter(order_line=line).values_list("creator_id", flat=True).first()
    )
    return CreatorEarning.objects.create(
        creator_id=creator,
        order_line=line,
        refund=refund,
        kind=kind,
        currency=line.currency,
        gross_amount=-gross,
        platform_fee_amount=-fee,
        net_amount=-(gross - fee),
        available_at=timezone.now(),
    )


def creator_balance(creator: Creator) -> dict[str, int]:
    """Net earnings per currency, recomputed from the ledger."""
    rows = (
        CreatorEarning.objects.filter(creator=creator)
        .values("currency")
        .annotate(net=Sum("net_amount"))
        .order_by("currency")
    )
    return {row["currency"]: row["net"] for row in rows}
