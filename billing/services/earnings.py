"""The creators' earnings ledger: append-only rows, a sale (+) and its reversals (-), payouts
(-) and failed payouts coming back (+).

The platform keeps ``floor(gross × platform_fee_bps / 10000)`` of a sale; the creator earns the
rest. A reversal takes back the same proportion of the refunded amount, and the reversal that
completes a line's refund takes back exactly what is left of that line's earnings, so a fully
refunded line always nets to zero.

A line counts as *pending* until its ``available_at`` (a sale: ``CREATOR_EARNINGS_HOLD_DAYS``
after payment), then as *available*. A payout debits the available balance when its batch is
made, so the same money is never in two batches; a refund after a payout makes the balance
negative, and the next payout nets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Creator
from billing.models import CreatorEarning, PayoutBatch, PayoutItem

if TYPE_CHECKING:  # commerce records its sales here; billing never imports it at run time
    from marketplace.models import OrderLine, Refund


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
        if refund.kind == CreatorEarning.Kind.CHARGEBACK
        else CreatorEarning.Kind.REFUND
    )
    sale = (
        CreatorEarning.objects.filter(order_line=line, kind=CreatorEarning.Kind.SALE)
        .values("creator_id", "available_at")
        .first()
    )
    assert sale is not None  # the line earned something (totals above): its sale is there
    return CreatorEarning.objects.create(
        creator_id=sale["creator_id"],
        order_line=line,
        refund=refund,
        kind=kind,
        currency=line.currency,
        gross_amount=-gross,
        platform_fee_amount=-fee,
        net_amount=-(gross - fee),
        # A refund within the hold cancels pending money; after it, available money.
        available_at=max(timezone.now(), sale["available_at"]),
    )


def creator_balance(creator: Creator) -> dict[str, int]:
    """What the platform owes the creator per currency (pending + available + in payout),
    recomputed from the ledger."""
    rows = (
        CreatorEarning.objects.filter(creator=creator)
        .values("currency")
        .annotate(net=Sum("net_amount"))
        .order_by("currency")
    )
    return {row["currency"]: row["net"] for row in rows}


def net_earnings(creator: Creator) -> dict[str, int]:
    """What the creator earned per currency: sales less the platform fee, refunds and
    chargebacks (payouts left out)."""
    rows = (
        CreatorEarning.objects.filter(creator=creator)
        .exclude(
            kind__in=[
                CreatorEarning.Kind.PAYOUT,
                CreatorEarning.Kind.PAYOUT_RETURN,
                CreatorEarning.Kind.PAYOUT_REVERSAL,
            ]
        )
        .values("currency")
        .annotate(net=Sum("net_amount"))
        .order_by("currency")
    )
    return {row["currency"]: row["net"] for row in rows}


def record_payouts(batch: PayoutBatch) -> int:
    """Debit every scheduled item of a new batch from its creator's available balance, in one
    INSERT ... SELECT (a batch may hold tens of thousands of items; the ledger's constraint
    refuses a second debit of an item). Returns how many lines were written."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO marketplace_creatorearning (creator_id, payout_item_id, kind, currency, "
            "gross_amount, platform_fee_amount, net_amount, available_at, created_at) "
            "SELECT creator_id, id, %s, currency, -amount, 0, -amount, %s, %s "
            "FROM marketplace_payoutitem WHERE batch_id = %s AND status = %s",
            [
                CreatorEarning.Kind.PAYOUT,
                timezone.now(),
                timezone.now(),
                batch.pk,
                PayoutItem.Status.SCHEDULED,
            ],
        )
        return int(cursor.rowcount)


def record_payout_return(item: PayoutItem) -> CreatorEarning:
    """Credit a failed or cancelled item's money back to available (once per item)."""
    kind = CreatorEarning.Kind.PAYOUT_RETURN
    existing = CreatorEarning.objects.filter(payout_item=item, kind=kind).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return CreatorEarning.objects.create(
                creator_id=item.creator_id,
                payout_item=item,
                kind=kind,
                currency=item.currency,
                gross_amount=item.amount,
                platform_fee_amount=0,
                net_amount=item.amount,
                available_at=timezone.now(),
            )
    except IntegrityError:  # written by a concurrent call (the constraint says once)
        return CreatorEarning.objects.get(payout_item=item, kind=kind)


def record_payout_reversal(item: PayoutItem, amount: int) -> CreatorEarning:
    """Credit money the platform took back from a paid transfer to available again (the
    caller holds the item's row lock and writes one line per newly reversed amount)."""
    return CreatorEarning.objects.create(
        creator_id=item.creator_id,
        payout_item=item,
        kind=CreatorEarning.Kind.PAYOUT_REVERSAL,
        currency=item.currency,
        gross_amount=amount,
        platform_fee_amount=0,
        net_amount=amount,
        available_at=timezone.now(),
    )


@dataclass(frozen=True)
class Balance:
    """A creator's money in one currency, in minor units. ``available`` may be negative (a
    refund after a payout); ``in_payout`` is in a batch not yet transferred."""

    currency: str
    pending: int
    available: int
    in_payout: int
    paid: int


def available_totals(now: datetime | None = None) -> dict[tuple[int, str], int]:
    """``{(creator id, currency): available net}`` over the ledger, for making a batch."""
    rows = CreatorEarning.objects.filter(available_at__lte=now or timezone.now())
    totals = rows.values("creator_id", "currency").annotate(total=Sum("net_amount")).order_by()
    return {(row["creator_id"], row["currency"]): row["total"] for row in totals}


def balances(creator: Creator, now: datetime | None = None) -> list[Balance]:
    """Pending, available, in-payout and paid money per currency, recomputed from the ledger
    in one query (``pending + available + in_payout`` is what the platform still owes)."""
    now = now or timezone.now()
    payout = Q(kind=CreatorEarning.Kind.PAYOUT)
    open_statuses = [PayoutItem.Status.SCHEDULED, PayoutItem.Status.PROCESSING]
    transferred = [PayoutItem.Status.PAID, PayoutItem.Status.REVERSED]
    # Paid: what the transfers moved, less what the platform took back from them.
    paid_or_taken_back = (payout & Q(payout_item__status__in=transferred)) | Q(
        kind=CreatorEarning.Kind.PAYOUT_REVERSAL
    )
    rows = (
        CreatorEarning.objects.filter(creator=creator)
        .values("currency")
        .annotate(
            pending=Sum("net_amount", filter=Q(available_at__gt=now)),
            available=Sum("net_amount", filter=Q(available_at__lte=now)),
            in_payout=Sum("net_amount", filter=payout & Q(payout_item__status__in=open_statuses)),
            paid=Sum("net_amount", filter=paid_or_taken_back),
        )
        .order_by("currency")
    )
    return [
        Balance(
            currency=row["currency"],
            pending=row["pending"] or 0,
            available=row["available"] or 0,
            in_payout=-(row["in_payout"] or 0),
            paid=-(row["paid"] or 0),
        )
        for row in rows
    ]
