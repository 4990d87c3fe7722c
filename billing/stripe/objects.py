"""Fresh copies of Stripe objects, kept in dj-stripe's tables.

Webhook handlers never trust an event's payload: they re-read the object it names. ``fresh_*``
retrieves it from Stripe and syncs it into dj-stripe (so the admin and the account pages see the
same state), and returns its data as a plain dict.
"""

from __future__ import annotations

import stripe
from djstripe import models as djstripe_models

from billing.stripe.client import api_key, as_dict, provider_errors


def _fresh(model, stripe_class, object_id: str, expand: list[str] | None = None) -> dict:
    key = api_key()
    with provider_errors():
        data = stripe_class.retrieve(object_id, api_key=key, expand=expand or [])
        model.sync_from_stripe_data(data, api_key=key)
    return as_dict(data)


def fresh_payment_intent(payment_intent_id: str) -> dict:
    return _fresh(djstripe_models.PaymentIntent, stripe.PaymentIntent, payment_intent_id)


def fresh_setup_intent(setup_intent_id: str) -> dict:
    return _fresh(djstripe_models.SetupIntent, stripe.SetupIntent, setup_intent_id)


def fresh_charge(charge_id: str) -> dict:
    """The charge with its refunds listed (newer API versions leave them out unless asked)."""
    return _fresh(djstripe_models.Charge, stripe.Charge, charge_id, expand=["refunds"])


def fresh_subscription(subscription_id: str) -> dict:
    return _fresh(djstripe_models.Subscription, stripe.Subscription, subscription_id)


def fresh_invoice(invoice_id: str) -> dict:
    return _fresh(djstripe_models.Invoice, stripe.Invoice, invoice_id)


def fresh_checkout_session(session_id: str) -> dict:
    return _fresh(djstripe_models.Session, stripe.checkout.Session, session_id)


def stored(model, object_id: str | None) -> dict:
    """The data of ``object_id`` as dj-stripe last synced it (``{}`` if it never saw it)."""
    if not object_id:
        return {}
    row = model.objects.filter(id=object_id).only("stripe_data").first()
    return dict(row.stripe_data) if row is not None else {}
