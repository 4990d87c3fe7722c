"""Billing's reactions to Stripe events, hooked on dj-stripe's webhook signals.

dj-stripe verifies the signature, stores each event once by id (a redelivered event does not
reach these handlers again) and syncs the object it names before they run. The handlers are thin
all the same: they re-read the object from Stripe and act on its *current* state through
services that are idempotent by reference, so replays, late and out-of-order deliveries change
nothing more. Marketplace orders are marketplace's business (``marketplace.webhooks``): the
handlers here only act on objects whose metadata ``kind`` is billing's.

An exception makes the webhook answer 500 and Stripe deliver the event again later (dj-stripe
rolls the event back); errors a retry cannot fix are logged and swallowed
(``billing.stripe.receivers``).
"""

from __future__ import annotations

from djstripe.models import Event

from billing.stripe import credit_packs, plan_subscriptions
from billing.stripe.client import object_id
from billing.stripe.objects import fresh_charge, fresh_checkout_session, fresh_payment_intent
from billing.stripe.receivers import connect_handlers, event_object, handler


def _subscription_of_invoice(invoice: dict) -> str | None:
    parent = (invoice.get("parent") or {}).get("subscription_details") or {}
    return object_id(invoice.get("subscription")) or object_id(parent.get("subscription"))


@handler
def on_subscription_event(event: Event) -> None:
    plan_subscriptions.refresh(event_object(event)["id"])


@handler
def on_invoice_event(event: Event) -> None:
    """A subscription's invoice was paid or its payment failed: re-read the subscription."""
    subscription_id = _subscription_of_invoice(event_object(event))
    if subscription_id:
        plan_subscriptions.refresh(subscription_id)


@handler
def on_payment_intent_succeeded(event: Event) -> None:
    intent = event_object(event)
    if (intent.get("metadata") or {}).get("kind") == credit_packs.KIND:
        credit_packs.fulfil(fresh_payment_intent(intent["id"]))


@handler
def on_charge_refunded(event: Event) -> None:
    charge = event_object(event)
    intent_id = object_id(charge.get("payment_intent"))
    if not intent_id:
        return
    intent = fresh_payment_intent(intent_id)
    if (intent.get("metadata") or {}).get("kind") == credit_packs.KIND:
        credit_packs.take_back_refunds(fresh_charge(charge["id"]), intent)


@handler
def on_checkout_session_completed(event: Event) -> None:
    """Checkout (production's payment page) finished: same as the objects' own events."""
    session = fresh_checkout_session(event_object(event)["id"])
    kind = (session.get("metadata") or {}).get("kind")
    subscription_id = object_id(session.get("subscription"))
    payment_intent_id = object_id(session.get("payment_intent"))
    if kind == "subscription" and subscription_id:
        plan_subscriptions.refresh(subscription_id)
    elif kind == credit_packs.KIND and payment_intent_id:
        credit_packs.fulfil(fresh_payment_intent(payment_intent_id))


HANDLERS = {
    "customer.subscription.created": on_subscription_event,
    "customer.subscription.updated": on_subscription_event,
    "customer.subscription.deleted": on_subscription_event,
    "customer.subscription.paused": on_subscription_event,
    "customer.subscription.resumed": on_subscription_event,
    "invoice.paid": on_invoice_event,
    "invoice.payment_succeeded": on_invoice_event,
    "invoice.payment_failed": on_invoice_event,
    "payment_intent.succeeded": on_payment_intent_succeeded,
    "charge.refunded": on_charge_refunded,
    "checkout.session.completed": on_checkout_session_completed,
    "checkout.session.async_payment_succeeded": on_checkout_session_completed,
}


def connect() -> None:
    connect_handlers(HANDLERS, "billing")
