import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="marketplace.refresh_catalog_stats", acks_late=True)
def refresh_catalog_stats() -> int:
    """Recompute the catalog's activity counters and trending scores (Celery beat)."""
    from marketplace.services.analytics import refresh_catalog_stats as refresh

    return refresh()


@shared_task(bind=True, name="marketplace.reindex_packages", acks_late=True, max_retries=8)
def reindex_packages_task(self, package_ids: list[int]) -> int:
    """Re-index packages whose re-index failed inside the change that triggered it (the change
    itself committed: ``marketplace.signals``); database errors are retried with backoff."""
    from django.db import DatabaseError

    from marketplace.services.catalog import index_packages

    try:
        return index_packages(package_ids)
    except DatabaseError as exc:
        raise self.retry(exc=exc, countdown=min(300, 2 * 2**self.request.retries)) from exc


@shared_task(name="marketplace.flush_analytics", acks_late=True)
def flush_analytics() -> int:
    """Write the analytics events buffered in Redis (Celery beat, every ANALYTICS_FLUSH_SECONDS)."""
    from marketplace.services.analytics import drain

    return drain()


@shared_task(name="marketplace.schedule_payouts", acks_late=True)
def schedule_payouts() -> int | None:
    """Make the next payout batch when it is due (Celery beat, hourly)."""
    from marketplace.services.payouts import schedule_payouts as schedule

    batch = schedule()
    return batch.pk if batch else None


@shared_task(bind=True, name="marketplace.execute_payout_batch", acks_late=True, max_retries=10)
def execute_payout_batch_task(self, batch_id: int) -> dict:
    """Transfer an approved batch's items; Stripe outages are retried with backoff."""
    from marketplace.services.payouts import TransferDeferred, execute_payout_batch

    try:
        return execute_payout_batch(batch_id)
    except TransferDeferred as exc:
        raise self.retry(exc=exc, countdown=min(3600, 60 * 2**self.request.retries)) from exc


@shared_task(name="marketplace.expire_licenses", acks_late=True)
def expire_licenses() -> int:
    """Mark licenses that are over as expired (Celery beat); stop billing lapsed subscriptions."""
    from marketplace.models import License
    from marketplace.payments import cancel_license_subscription
    from marketplace.services.licenses import expire_licenses as expire

    expired = expire()
    lapsed = License.objects.filter(pk__in=expired, subscription_status="past_due")
    for license in lapsed.exclude(subscription_id=""):
        try:  # like billing's lapsed Pro: cancel at Stripe; Stripe's own dunning is the fallback
            cancel_license_subscription(license)
        except Exception:
            logger.warning("Could not cancel subscription %s at Stripe", license.subscription_id)
    return len(expired)


@shared_task(bind=True, name="marketplace.sync_subscription_pause", acks_late=True, max_retries=10)
def sync_subscription_pause_task(self, license_id: int) -> str:
    """Pause or resume a subscription license's billing at Stripe after a suspension or a
    reinstatement; Stripe outages are retried with backoff."""
    from billing.stripe.client import PaymentProviderError
    from marketplace.payments import sync_subscription_pause

    try:
        return sync_subscription_pause(license_id)
    except PaymentProviderError as exc:
        raise self.retry(exc=exc, countdown=min(3600, 30 * 2**self.request.retries)) from exc
