"""Billing's periodic work (scheduled by beat; see ``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db.models import Exists, OuterRef

logger = logging.getLogger(__name__)


@shared_task(name="billing.tasks.grant_monthly_credits", ignore_result=True)
def grant_monthly_credits(cycle: str | None = None) -> int:
    """Grant this cycle's included credits to every account that has not had them yet.

    Safe to run as often as wanted, twice at once, or after a missed month: the service grants
    at most once per account and cycle. Returns how many accounts were granted now.
    """
    from billing.models import CreditAccount, CreditEntry
    from billing.services import credits

    cycle = cycle or credits.current_cycle()
    granted = CreditEntry.objects.filter(
        account=OuterRef("pk"), kind=CreditEntry.Kind.GRANT, reference=f"cycle:{cycle}"
    )
    pending = (
        CreditAccount.objects.filter(user__is_active=True)
        .exclude(Exists(granted))
        .values_list("pk", flat=True)
        .order_by("pk")
    )
    count = 0
    for account_id in pending.iterator(chunk_size=500):
        account = CreditAccount.objects.get(pk=account_id)
        if credits.grant_monthly_credits(account, cycle) is not None:
            count += 1
    logger.info("Granted %s accounts their credits for %s", count, cycle)
    return count


@shared_task(name="billing.tasks.end_lapsed_grace_periods", ignore_result=True)
def end_lapsed_grace_periods() -> int:
    """Put accounts whose failed renewal's grace period ran out on Free (idempotent)."""
    from billing.stripe.plan_subscriptions import end_lapsed_grace_periods as end_lapsed

    count = end_lapsed()
    if count:
        logger.info("Downgraded %s accounts whose grace period ended", count)
    return count


@shared_task(name="billing.tasks.bill_overage", ignore_result=True)
def bill_overage(cycle: str | None = None) -> int:
    """Bill the ended ``cycle``'s overage (default: last month) and send pending charges.

    Exactly once per account and cycle however often it runs, concurrently included: the
    charge is recorded under the account's lock and unique per (account, cycle); sending is
    claimed per charge and finds an item a crashed run created. Charges that Stripe refused or
    could not take stay pending and are sent by a later run. Returns how many were sent now.
    """
    from billing.models import CreditAccount, CreditEntry, OverageCharge
    from billing.services import overage
    from billing.stripe import client, overage_invoices

    cycle = cycle or overage.previous_cycle()
    _, end = overage.cycle_bounds(cycle)
    billed = OverageCharge.objects.filter(account=OuterRef("pk"), cycle=cycle)
    overdrawn = CreditEntry.objects.filter(
        account=OuterRef("pk"), created_at__lt=end, balance_after__lt=0
    )
    candidates = (
        CreditAccount.objects.filter(Exists(overdrawn))
        .exclude(Exists(billed))
        .values_list("pk", flat=True)
        .order_by("pk")
    )
    for account_id in candidates.iterator(chunk_size=500):
        overage.close_cycle(CreditAccount.objects.get(pk=account_id), cycle)
    if not client.is_enabled():
        logger.warning("Overage charges wait for Stripe to be configured")
        return 0
    sent = 0
    pending = OverageCharge.objects.filter(status=OverageCharge.Status.PENDING).order_by("pk")
    for charge_id in list(pending.values_list("pk", flat=True)):
        try:
            if overage_invoices.send(charge_id) is not None:
                sent += 1
        except client.PaymentProviderError:
            logger.warning("Overage charge %s not sent; a later run retries", charge_id)
    logger.info("Overage for %s: %s charges sent", cycle, sent)
    return sent


@shared_task(name="marketplace.schedule_payouts", acks_late=True)
def schedule_payouts() -> int | None:
    """Make the next payout batch when it is due (Celery beat, hourly)."""
    from billing.services.payouts import schedule_payouts as schedule

    batch = schedule()
    return batch.pk if batch else None


@shared_task(bind=True, name="marketplace.execute_payout_batch", acks_late=True, max_retries=10)
def execute_payout_batch_task(self, batch_id: int) -> dict:
    """Transfer an approved batch's items; Stripe outages are retried with backoff."""
    from billing.services.payouts import TransferDeferred, execute_payout_batch

    try:
        return execute_payout_batch(batch_id)
    except TransferDeferred as exc:
        raise self.retry(exc=exc, countdown=min(3600, 60 * 2**self.request.retries)) from exc
