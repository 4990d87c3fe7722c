import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="marketplace.expire_licenses", acks_late=True)
def expire_licenses() -> int:
    """Mark licenses that are over as expired (Celery beat); stop billing lapsed subscriptions."""
    from licensing.models import License
    from licensing.services.licenses import expire_licenses as expire
    from marketplace.payments import cancel_license_subscription

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
