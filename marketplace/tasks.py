import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="marketplace.refresh_catalog_stats", acks_late=True)
def refresh_catalog_stats() -> int:
    """Recompute the catalog's activity counters and trending scores (Celery beat)."""
    from marketplace.services.analytics import refresh_catalog_stats as refresh

    return refresh()


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
