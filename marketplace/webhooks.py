"""Marketplace's reactions to Stripe events, hooked on dj-stripe's webhook signals.

Only objects whose metadata ``kind`` is ``order`` are marketplace's (billing handles its own
kinds). Each handler re-reads the object from Stripe and acts on its current state through
``marketplace.payments`` and the order services, which are idempotent (``mark_order_paid`` by
payment reference, ``refund_order`` by refund or dispute id), so the same event delivered ten
times, or events out of order, have one effect: a refund that overtakes its payment's
``payment_intent.succeeded`` first pays the order (the re-read PaymentIntent did succeed), then
refunds it.

Transient failures (Stripe unreachable) raise, so the webhook answers 500 and Stripe retries;
decisions a retry cannot change are logged and audited.
"""

from __future__ import annotations

import stripe
from djstripe.models import Event

from billing.stripe.client import (
    api_key,
    as_dict,
    object_id,
    provider_errors,
)
from billing.stripe.invoices import invoice_summary
from billing.stripe.objects import (
    fresh_charge,
    fresh_checkout_session,
    fresh_invoice,
    fresh_payment_intent,
    fresh_setup_intent,
    fresh_subscription,
)
from billing.stripe.receivers import connect_handlers, event_object, handler
from fmugateway.core.audit import record
from marketplace import payments
from marketplace.models import Order, Refund
from marketplace.payments import is_order, order_of, pay_order, refund_from_charge
from marketplace.services import refund_order


@handler
def on_payment_intent_succeeded(event: Event) -> None:
    if is_order(event_object(event)):
        pay_order(fresh_payment_intent(event_object(event)["id"]))


@handler
def on_payment_intent_failed(event: Event) -> None:
    """A failed attempt: the order stays pending (the buyer may retry with another card)."""
    intent = event_object(event)
    if is_order(intent):
        order = order_of(intent)
        record(
            "marketplace.order.payment_failed",
            target=order,
            after={"payment_intent": intent.get("id")},
        )


@handler
def on_charge_refunded(event: Event) -> None:
    charge = event_object(event)
    intent_id = object_id(charge.get("payment_intent"))
    if not intent_id:
        return
    intent = fresh_payment_intent(intent_id)
    # An order's payment, or a renewal's (its invoice's PaymentIntent names no order).
    if is_order(intent) or Order.objects.filter(payment_reference=intent_id).exists():
        refund_from_charge(fresh_charge(charge["id"]), intent)


@handler
def on_invoice_event(event: Event) -> None:
    """A license subscription's invoice: paid renews the license, failed starts its grace."""
    invoice = event_object(event)
    license = payments.license_of_subscription(invoice_summary(invoice)["subscription"])
    if license is None:
        return  # billing's (Pro) or nobody's
    if event.type in ("invoice.paid", "invoice.payment_succeeded"):
        payments.apply_invoice(fresh_invoice(invoice["id"]), license)
    payments.follow_subscription(license, fresh_subscription(license.subscription_id))


@handler
def on_subscription_event(event: Event) -> None:
    """A license subscription changed (cancelled, unpaid, past due): the license follows."""
    license = payments.license_of_subscription(event_object(event).get("id"))
    if license is not None:
        payments.follow_subscription(license, fresh_subscription(license.subscription_id))


def _dispute(dispute_id: str) -> dict:
    with provider_errors():
        return as_dict(stripe.Dispute.retrieve(dispute_id, api_key=api_key()))


@handler
def on_dispute(event: Event) -> None:
    """Disputes: opened is audited; lost is a chargeback (licenses revoked, earnings reversed)."""
    dispute = _dispute(event_object(event)["id"])
    intent_id = object_id(dispute.get("payment_intent"))
    if not intent_id:
        charge_id = object_id(dispute.get("charge"))
        assert charge_id is not None  # a dispute is always about a charge
        charge = fresh_charge(charge_id)
        intent_id = object_id(charge.get("payment_intent"))
    if not intent_id:
        return
    intent = fresh_payment_intent(intent_id)
    order = order_of(intent) if is_order(intent) else None
    if order is None:
        return
    if dispute.get("status") != "lost":
        record(
            "marketplace.order.disputed",
            target=order,
            after={"dispute": dispute["id"], "status": dispute.get("status")},
        )
        return
    if order.status == Order.Status.PENDING:
        pay_order(intent)
    order.refresh_from_db()
    if Refund.objects.filter(order=order, reference=dispute["id"]).exists():
        return
    amount = min(int(dispute.get("amount") or 0), order.refundable_amount)
    if amount <= 0:
        return
    refund_order(
        order,
        amount,
        reason=f"dispute lost ({dispute.get('reason') or 'unknown'})",
        reference=dispute["id"],
        kind=Refund.Kind.CHARGEBACK,
    )
    payments.end_subscriptions_of_revoked(order)


@handler
def on_checkout_session_completed(event: Event) -> None:
    session = fresh_checkout_session(event_object(event)["id"])
    if (session.get("metadata") or {}).get("kind") != payments.KIND:
        return
    payment_intent_id = object_id(session.get("payment_intent"))
    setup_intent_id = object_id(session.get("setup_intent"))
    if session.get("payment_status") == "paid" and payment_intent_id:
        pay_order(fresh_payment_intent(payment_intent_id))
    elif session.get("mode") == "setup" and setup_intent_id:
        pay_order(fresh_setup_intent(setup_intent_id))


@handler
def on_setup_intent_succeeded(event: Event) -> None:
    """The buyer gave the card that pays an order's renewals (nothing to pay now)."""
    if is_order(event_object(event)):
        pay_order(fresh_setup_intent(event_object(event)["id"]))


HANDLERS = {
    "payment_intent.succeeded": on_payment_intent_succeeded,
    "payment_intent.payment_failed": on_payment_intent_failed,
    "setup_intent.succeeded": on_setup_intent_succeeded,
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_dispute,
    "charge.dispute.closed": on_dispute,
    "invoice.paid": on_invoice_event,
    "invoice.payment_succeeded": on_invoice_event,
    "invoice.payment_failed": on_invoice_event,
    "customer.subscription.updated": on_subscription_event,
    "customer.subscription.deleted": on_subscription_event,
    "checkout.session.completed": on_checkout_session_completed,
    "checkout.session.async_payment_succeeded": on_checkout_session_completed,
}


def connect() -> None:
    connect_handlers(HANDLERS, "marketplace")
