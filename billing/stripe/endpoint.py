"""The webhook endpoint dj-stripe receives events on, made from the settings.

dj-stripe serves webhooks at ``/stripe/webhook/<uuid>/`` and verifies each against the secret of
the ``WebhookEndpoint`` row with that uuid. ``ensure_endpoint()`` (``manage.py
stripe_webhook_endpoint``) writes that row from ``STRIPE_WEBHOOK_UUID`` and
``STRIPE_WEBHOOK_SECRET`` (the signing secret Stripe shows for the endpoint). An endpoint made
in dj-stripe's admin (which registers it at Stripe) works as well.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from djstripe.models import WebhookEndpoint


def webhook_path(uuid: str | None = None) -> str:
    uuid = uuid or settings.STRIPE_WEBHOOK_UUID
    return reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": uuid})


def webhook_url(base_url: str | None = None) -> str:
    return f"{(base_url or settings.SITE_URL).rstrip('/')}{webhook_path()}"


def ensure_endpoint(base_url: str | None = None) -> WebhookEndpoint:
    """Create or update the endpoint row for ``STRIPE_WEBHOOK_UUID``; idempotent."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise ValueError("STRIPE_WEBHOOK_SECRET is not set.")
    uuid = str(settings.STRIPE_WEBHOOK_UUID)
    endpoint, _ = WebhookEndpoint.objects.update_or_create(
        djstripe_uuid=uuid,
        defaults={
            "id": f"we_fmugw_{uuid.replace('-', '')[:20]}",
            "secret": settings.STRIPE_WEBHOOK_SECRET,
            "url": webhook_url(base_url),
            "livemode": settings.STRIPE_LIVE_MODE,
            "enabled_events": ["*"],
            "status": "enabled",
            "stripe_data": {},
        },
    )
    return endpoint
