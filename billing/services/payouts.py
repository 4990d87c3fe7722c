"""Paying creators: batches of available balances, a moderator's approval, Connect transfers.

    batch = create_payout_batch()                  # beat (schedule_payouts) or by hand
    approve_payout_batch(batch, moderator)         # the admin's action; queues the transfers
    execute_payout_batch(batch.pk)                 # the task: one Stripe transfer per item

Payouts live beside the earnings ledger they debit (``billing.services.earnings``); billing
only lends its Stripe client, so billing never needs to know what a creator is.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Creator, User, is_moderator
from billing.models import CreatorEarning, PayoutBatch, PayoutItem
from billing.services import earnings
from billing.stripe.client import api_key
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError, ForbiddenError

logger = logging.getLogger(__name__)

OPEN = (PayoutItem.Status.SCHEDULED, PayoutItem.Status.PROCESSING)
# Stripe refused the transfer itself: retrying the same request cannot succeed.
_REFUSED = (stripe.InvalidRequestError, stripe.PermissionError, stripe.IdempotencyError)


class TransferDeferred(DomainError):
    """Stripe could not be reached or asked us to slow down; the item is tried again later."""

    status_code = 503
    code = "payout_transfer_deferred"
    detail = "The transfer could not be made now; it will be retried."


# What decides whether a creator can be paid (read in bulk when a batch is made).
_PAYABLE_FIELDS = ("status", "stripe_account_id", "details_submitted", "payouts_enabled")


def skip_reason(creator: Creator) -> str:
    """Why ``creator`` cannot be paid now (a ``PayoutItem.SkipReason``), or ``""``."""
    return _skip_reason(*(getattr(creator, field) for field in _PAYABLE_FIELDS))


def _skip_reason(status: str, account: str, details_submitted: bool, payouts_enabled: bool) -> str:
    if status != Creator.Status.APPROVED:
        return PayoutItem.SkipReason.CREATOR_NOT_APPROVED
    if not account:
        return PayoutItem.SkipReason.NO_CONNECT_ACCOUNT
    if not (details_submitted and payouts_enabled):
        return PayoutItem.SkipReason.ONBOARDING_INCOMPLETE
    return ""


def _require_moderator(user: User | None) -> None:
    if not is_moderator(user):
        raise ForbiddenError("Only moderators can approve or cancel payouts.")


@transaction.atomic
def create_payout_batch(
    *, actor: User | None = None, now: datetime | None = None
) -> PayoutBatch | None:
    """Gather every positive available balance (per creator and currency) into a new batch.

    Guarantees: each scheduled item debits its creator's balance in this transaction, so the
    same money is never in two batches (the creators with available money are locked, in id
    order, before their balances are summed); creators who cannot be paid get a ``skipped``
    item with the reason and keep their balance; negative balances are carried until earnings
    cover them. ``None`` when nobody has anything to pay.
    """
    now = now or timezone.now()
    # Lock every creator with available money first (one statement, id order), then sum: a
    # concurrent batch waits here and then sees this one's debits.
    creators = {
        row[0]: row[1:]
        for row in Creator.objects.select_for_update()
        .filter(pk__in=CreatorEarning.objects.filter(available_at__lte=now).values("creator_id"))
        .order_by("pk")
        .values_list("pk", *_PAYABLE_FIELDS)
    }
    totals = earnings.available_totals(now)
    # (A creator whose first money became available after the lock waits for the next batch.)
    payable = sorted(
        (key, total) for key, total in totals.items() if total > 0 and key[0] in creators
    )
    if not payable:
        return None
    batch = PayoutBatch.objects.create(
        reference=f"PO-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3).upper()}"
    )
    summary: dict[str, dict[str, int]] = {}
    items = []
    for (creator_id, currency), total in payable:
        state = creators[creator_id]
        reason = _skip_reason(*state)
        items.append(
            PayoutItem(
                batch=batch,
                creator_id=creator_id,
                currency=currency,
                amount=total,
                status=PayoutItem.Status.SKIPPED if reason else PayoutItem.Status.SCHEDULED,
                skip_reason=reason,
                destination=state[1],
            )
        )
        per_currency = summary.setdefault(currency, {"scheduled": 0, "skipped": 0})
        per_currency["skipped" if reason else "scheduled"] += total
    PayoutItem.objects.bulk_create(items, batch_size=1000)
    earnings.record_payouts(batch)
    record(
        "marketplace.payout_batch.created",
        actor=actor,
        target=batch,
        after={"items": len(payable), "totals": summary},
    )
    return batch


def _decide(
    batch: PayoutBatch, moderator: User, new: str, action: str, **changes: Any
) -> PayoutBatch:
    """Move a batch awaiting approval to ``new`` atomically (409 when it no longer waits)."""
    _require_moderator(moderator)
    claimed = PayoutBatch.objects.filter(
        pk=batch.pk, status=PayoutBatch.Status.PENDING_APPROVAL
    ).update(status=new, updated_at=timezone.now(), **changes)
    batch.refresh_from_db()
    if not claimed:
        raise ConflictError(
            f"Payout batch {batch.reference} is {batch.get_status_display().lower()}.",
            code="payout_batch_not_pending",
        )
    record(
        action,
        actor=moderator,
        target=batch,
        before={"status": PayoutBatch.Status.PENDING_APPROVAL},
        after={"status": batch.status},
    )
    return batch


@transaction.atomic
def approve_payout_batch(batch: PayoutBatch, moderator: User) -> PayoutBatch:
    """Approve a batch awaiting approval and queue its transfers (after commit).

    Approving twice is refused (409 ``payout_batch_not_pending``): only the first approval
    queues the task, and the task itself pays each item once.
    """
    from billing.tasks import execute_payout_batch_task

    batch = _decide(
        batch,
        moderator,
        PayoutBatch.Status.APPROVED,
        "marketplace.payout_batch.approved",
        approved_by=moderator,
        approved_at=timezone.now(),
    )
    execute_payout_batch_task.delay(batch.pk)
    return batch


@transaction.atomic
def cancel_payout_batch(batch: PayoutBatch, moderator: User) -> PayoutBatch:
    """Cancel a batch awaiting approval: its scheduled money returns to available."""
    batch = _decide(
        batch,
        moderator,
        PayoutBatch.Status.CANCELLED,
        "marketplace.payout_batch.cancelled",
        cancelled_by=moderator,
        cancelled_at=timezone.now(),
    )
    for item in batch.items.select_for_update().filter(status=PayoutItem.Status.SCHEDULED):
        item.status = PayoutItem.Status.CANCELLED
        item.save(update_fields=["status", "updated_at"])
        earnings.record_payout_return(item)
    return batch


def execute_payout_batch(batch_id: int) -> dict[str, int]:
    """Transfer every open item of an approved batch; complete the batch when none is left.

    Idempotent: paid, failed and skipped items are left alone, and each transfer carries the
    item's idempotency key, so a retried or duplicated task never pays twice. Raises
    ``TransferDeferred`` (after trying every item) when Stripe could not be reached.
    """
    batch = PayoutBatch.objects.get(pk=batch_id)
    if batch.status != PayoutBatch.Status.APPROVED:
        return {}
    deferred = 0
    for item_id in batch.items.filter(status__in=OPEN).order_by("pk").values_list("pk", flat=True):
        try:
            pay_item(item_id)
        except TransferDeferred:
            deferred += 1
    counts = dict.fromkeys(PayoutItem.Status.values, 0)
    for status in batch.items.values_list("status", flat=True):
        counts[status] += 1
    if not any(counts[status] for status in OPEN):
        now = timezone.now()
        if PayoutBatch.objects.filter(pk=batch.pk, status=PayoutBatch.Status.APPROVED).update(
            status=PayoutBatch.Status.COMPLETED, completed_at=now, updated_at=now
        ):
            record("marketplace.payout_batch.completed", target=batch, after=counts)
    if deferred:
        raise TransferDeferred(f"{deferred} transfer(s) of {batch.reference} deferred.")
    return counts


def pay_item(item_id: int) -> PayoutItem:
    """Make one item's Stripe Connect transfer: ``paid``, or ``failed`` with Stripe's reason
    and the money credited back to available.

    The item's row stays locked across the call to Stripe, so a concurrent run waits and then
    finds it settled; the idempotency key makes a retry after a crash (transfer made, row not
    yet updated) return the first transfer instead of a second one.
    """
    with transaction.atomic():
        item = (
            PayoutItem.objects.select_for_update(of=("self",))
            .select_related("batch")
            .get(pk=item_id)
        )
        if item.status not in OPEN or item.batch.status != PayoutBatch.Status.APPROVED:
            return item
        key = api_key()
        item.status = PayoutItem.Status.PROCESSING
        item.attempts += 1
        try:
            transfer = stripe.Transfer.create(
                amount=item.amount,
                currency=item.currency.lower(),
                destination=item.destination,
                transfer_group=item.batch.reference,
                description=f"FMU Gateway payout {item.batch.reference}",
                metadata={
                    "payout_batch": item.batch.reference,
                    "payout_item": str(item.pk),
                    "creator_id": str(item.creator_id),
                },
                idempotency_key=item.idempotency_key,
                api_key=key,
            )
        except _REFUSED as exc:
            return _fail(item, exc)
        except stripe.StripeError as exc:
            logger.warning("payout item %s deferred: %s", item.pk, exc)
            raise TransferDeferred() from exc
        item.status = PayoutItem.Status.PAID
        item.stripe_transfer_id = transfer.id
        item.paid_at = timezone.now()
        item.save(
            update_fields=["status", "attempts", "stripe_transfer_id", "paid_at", "updated_at"]
        )
        record(
            "marketplace.payout_item.paid",
            target=item,
            after={
                "amount": item.amount,
                "currency": item.currency,
                "destination": item.destination,
                "transfer": transfer.id,
            },
        )
        return item


def _fail(item: PayoutItem, exc: stripe.StripeError) -> PayoutItem:
    item.status = PayoutItem.Status.FAILED
    item.failure_code = (getattr(exc, "code", None) or "transfer_refused")[:64]
    item.failure_message = (getattr(exc, "user_message", None) or str(exc))[:255]
    item.save(update_fields=["status", "attempts", "failure_code", "failure_message", "updated_at"])
    earnings.record_payout_return(item)
    record(
        "marketplace.payout_item.failed",
        target=item,
        after={
            "amount": item.amount,
            "currency": item.currency,
            "code": item.failure_code,
            "detail": item.failure_message,
        },
    )
    return item


def apply_transfer_reversal(transfer: dict[str, Any]) -> PayoutItem | None:
    """The platform took (part of) a payout's transfer back in Stripe: credit what was newly
    reversed back to the creator's available balance; ``reversed`` once all of it is back.

    ``transfer`` is Stripe's current transfer (its ``amount_reversed`` only grows), so a
    replayed or late event finds nothing new and changes nothing. Unknown transfers (not a
    payout of ours) are ignored.
    """
    if not transfer.get("id"):
        return None
    with transaction.atomic():
        item = (
            PayoutItem.objects.select_for_update(of=("self",))
            .filter(stripe_transfer_id=transfer["id"])
            .first()
        )
        if item is None:
            return None
        reversed_total = min(int(transfer.get("amount_reversed") or 0), item.amount)
        newly = reversed_total - item.amount_reversed
        if newly <= 0:
            return item
        item.amount_reversed = reversed_total
        if reversed_total == item.amount:
            item.status = PayoutItem.Status.REVERSED
        item.save(update_fields=["amount_reversed", "status", "updated_at"])
        earnings.record_payout_reversal(item, newly)
        record(
            "marketplace.payout_item.reversed",
            target=item,
            after={
                "transfer": item.stripe_transfer_id,
                "reversed": newly,
                "amount_reversed": item.amount_reversed,
                "currency": item.currency,
            },
        )
        return item


def schedule_payouts(now: datetime | None = None) -> PayoutBatch | None:
    """Beat's hourly call: a new batch once ``PAYOUT_INTERVAL_DAYS`` have passed since the
    last one, and approved batches whose transfers stalled (a lost worker) queued again."""
    from billing.tasks import execute_payout_batch_task

    now = now or timezone.now()
    stalled = PayoutBatch.objects.filter(
        status=PayoutBatch.Status.APPROVED,
        approved_at__lt=now - timedelta(minutes=15),
        items__status__in=OPEN,
    ).distinct()
    for batch_id in stalled.values_list("pk", flat=True):
        execute_payout_batch_task.delay(batch_id)
    latest = (
        PayoutBatch.objects.exclude(status=PayoutBatch.Status.CANCELLED)
        .order_by("-created_at")
        .first()
    )
    if latest and latest.created_at > now - timedelta(days=settings.PAYOUT_INTERVAL_DAYS):
        return None
    return create_payout_batch(now=now)
