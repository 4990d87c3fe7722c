"""One Stripe customer per account, created on first need through dj-stripe."""

from __future__ import annotations

from django.conf import settings
from djstripe import models as djstripe_models
from djstripe.settings import djstripe_settings

from accounts.models import User
from billing.stripe.client import api_key, provider_errors


def customer_for(user) -> djstripe_models.Customer:
    """``user``'s Stripe customer (dj-stripe row), created at Stripe on first use.

    dj-stripe makes the creation idempotent (a stored idempotency key per account) and writes the
    account's id into the customer's metadata, which is how webhooks find the account again.
    """
    key = api_key()
    with provider_errors():
        customer, _ = djstripe_models.Customer.get_or_create(
            subscriber=user, livemode=settings.STRIPE_LIVE_MODE, api_key=key
        )
    return customer


def user_for_customer(customer_id: str | None, metadata: dict | None = None) -> User | None:
    """The account a Stripe customer belongs to (``None`` if it is not one of ours)."""
    if customer_id:
        row = (
            djstripe_models.Customer.objects.filter(id=customer_id)
            .select_related("subscriber")
            .first()
        )
        if row is not None and row.subscriber is not None:
            return row.subscriber
    user_id = (metadata or {}).get("user_id") or (metadata or {}).get(
        djstripe_settings.SUBSCRIBER_CUSTOMER_KEY
    )
    if user_id and str(user_id).isdigit():
        return User.objects.filter(pk=int(user_id)).first()
    return None
