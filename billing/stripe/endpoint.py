"""The webhook endpoint dj-stripe receives events on, made from the settings.

dj-stripe serves webhooks at ``/stripe/webhook/<uuid>/`` and verifies each against the secret of
the ``WebhookEndpoint`` row with that uuid. ``ensure_endpoint()`` (``manage.py
stripe_webhook_endpoint``) writes that row from ``STRIPE_WEBHOOK_UUID`` and
``STRIPE_WEBHOOK_SECRET`` (the signing secret Stripe shows for the endpoint). An endpoint made
in dj-stripe's admin (which registers it at Stripe) works as well. ``WebhookView`` serves that
path in front of dj-stripe's view.
"""

from __future__ import annotations

import json
import logging

import stripe
from django.conf import settings
from django.http import JsonResponse
from django.urls import reverse
from djstripe.models import WebhookEndpoint
from djstripe.views import ProcessWebhookView

logger = logging.getLogger(__name__)


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


def _malformed(payload: str) -> str | None:
    """Why a (validly signed) event cannot be an event, or None when its shape is right."""
    try:
        event = json.loads(payload)
    except ValueError:
        return "the body is not JSON"
    if not isinstance(event, dict):
        return "the event is not an object"
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        return "the event has no string id and type"
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "data and data.object are not objects"
    if not isinstance(data["object"].get("id", ""), str):
        return "data.object.id is not a string"
    return None


class WebhookView(ProcessWebhookView):
    """dj-stripe's webhook view, but a validly signed event whose shape no Stripe event has is
    refused with 400 ``malformed_event`` and logged, instead of failing in its handlers with a
    500 that Stripe would retry for days."""

    def post(self, request, uuid):
        signature = request.headers.get("stripe-signature")
        endpoint = WebhookEndpoint.objects.filter(djstripe_uuid=uuid).first()
        if signature and endpoint is not None and endpoint.secret:
            payload = request.body.decode(request.encoding or "utf-8", errors="replace")
            try:
                stripe.WebhookSignature.verify_header(
                    payload, signature, endpoint.secret, endpoint.djstripe_tolerance
                )
            except stripe.SignatureVerificationError:
                pass  # dj-stripe records the trigger and answers 400
            else:
                if (problem := _malformed(payload)) is not None:
                    logger.warning("Refused a signed Stripe webhook: %s", problem)
                    return JsonResponse(
                        {"code": "malformed_event", "detail": f"Not an event: {problem}."},
                        status=400,
                    )
        return super().post(request, uuid)
