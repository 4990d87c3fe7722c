"""Marketplace's reactions to Stripe events, hooked on dj-stripe's webhook signals.

Only objects whose metadata ``kind`` is ``order`` are marketplace's (billing handles its own
kinds). Each handler re-reads the object from Stripe and acts on its current state through the
order services, which are idempotent (``mark_order_paid`` by payment reference, ``refund_order``
by refund or dispute id), so the same event delivered ten times, or events out of order, have
one effect: a refund that overtakes its payment's ``payment_intent.succeeded`` first pays the
order (the re-read PaymentIntent did succeed), then refunds it.

Transient failures (Stripe unreachable) raise, so the webhook answers 500 and Stripe retries;
decisions a retry cannot change are logged and audited.
"""

from __future__ import annotations

import logging

import stripe
from djstripe.models import Event
from djstripe.signals import WEBHOOK_SIGNALS

from billing.stripe.client import (
    PaymentProviderError,
    PaymentsUnavailable,
    api_key,
    as_dict,
    object_id,
    provider_errors,
)
from billing.stripe.objects import (
    fresh_charge,
    fresh_checkout_session,
    fresh_payment_intent,
    stored,
)
from fmugateway.core.audit import record
from fmugateway.core.errors import DomainError
from marketplace import payments
from marketplace.models import Order, Refund
from marketplace.services import mark_order_paid, refund_order

logger = logging.getLogger(__name__)


def handler(function):
    def wrapper(sender, event: Event, **kwargs):
        try:
            return function(event)
        except (PaymentProviderError, PaymentsUnavailable):
            raise
        except DomainError as exc:
            logger.warning("Stripe event %s (%s) not applied: %s", event.id, event.type, exc)
        return None

    # Not functools.wraps: Django checks the receiver's own signature (it takes **kwargs).
    wrapper.__name__, wrapper.__qualname__ = function.__name__, function.__qualname__
    wrapper.__doc__, wrapper.__module__ = function.__doc__, function.__module__
    return wrapper


def _object(event: Event) -> dict:
    return (event.data or {}).get("object") or {}


def _is_order(intent: dict) -> bool:
    return (intent.get("metadata") or {}).get("kind") == payments.KIND


def order_of(intent: dict) -> Order | None:
    """The order a PaymentIntent pays: by the id in its metadata, else by reference."""
    order_id = (intent.get("metadata") or {}).get("order_id")
    if order_id and str(order_id).isdigit():
        order = Order.objects.filter(pk=int(order_id)).first()
        if order is not None:
            return order
    return Order.objects.filter(payment_reference=intent["id"]).first()


def _refund_stray_payment(intent: dict, order: Order | None, why: str) -> None:
    """Money arrived for an order that can no longer take it: give it back (once)."""
    with provider_errors():
        stripe.Refund.create(
            payment_intent=intent["id"],
            metadata={"kind": payments.KIND, "reason": why[:200]},
            idempotency_key=f"fmugw-stray-{intent['id']}",
            api_key=api_key(),
        )
    record(
        "marketplace.order.payment_returned",
        target=order,
        after={"payment_intent": intent["id"], "reason": why},
    )


def pay_order(intent: dict) -> Order | None:
    """Mark the order paid if ``intent`` (re-read from Stripe) succeeded; idempotent."""
    if not _is_order(intent) or intent.get("status") != "succeeded":
        return None
    order = order_of(intent)
    if order is None:
        logger.warning("PaymentIntent %s names no order of ours", intent["id"])
        return None
    amount = intent.get("amount_received") or intent.get("amount")
    try:
        return mark_order_paid(
            order, intent["id"], amount=amount, currency=(intent.get("currency") or "").upper()
        )
    except DomainError as exc:
        if exc.code in ("order_not_payable", "payment_reference_mismatch"):
            _refund_stray_payment(intent, order, f"{exc.code}: {exc.detail}")
            return None
        record(
            "marketplace.order.payment_rejected",
            target=order,
            after={"payment_intent": intent["id"], "code": exc.code, "detail": exc.detail},
        )
        raise


def refund_from_charge(charge: dict, intent: dict) -> list[Refund]:
    """Record each refund of ``charge`` on its order (once per Stripe refund id)."""
    if not _is_order(intent):
        return []
    order = order_of(intent)
    if order is None:
        return []
    if order.status == Order.Status.PENDING:
        pay_order(intent)  # the refund overtook the payment's own event
    done = []
    refunds = (charge.get("refunds") or {}).get("data") or []
    for item in sorted(refunds, key=lambda refund: (refund.get("created") or 0, refund["id"])):
        if item.get("status") not in ("succeeded", "pending"):
            continue
        if (
            (item.get("metadata") or {})
            .get("reason", "")
            .startswith(("order_not_payable", "payment_reference_mismatch"))
        ):
            continue  # a stray payment we returned: the order never took it
        reason = item.get("reason") or "refunded at Stripe"
        done.append(refund_order(order, int(item["amount"]), reason=reason, reference=item["id"]))
    return done


@handler
def on_payment_intent_succeeded(event: Event) -> None:
    if _is_order(_object(event)):
        pay_order(fresh_payment_intent(_object(event)["id"]))


@handler
def on_payment_intent_failed(event: Event) -> None:
    """A failed attempt: the order stays pending (the buyer may retry with another card)."""
    intent = _object(event)
    if _is_order(intent):
        order = order_of(intent)
        record(
            "marketplace.order.payment_failed",
            target=order,
            after={"payment_intent": intent.get("id")},
        )


@handler
def on_charge_refunded(event: Event) -> None:
    charge = _object(event)
    intent_id = object_id(charge.get("payment_intent"))
    if not intent_id:
        return
    intent = fresh_payment_intent(intent_id)
    if _is_order(intent):
        refund_from_charge(fresh_charge(charge["id"]), intent)


def _dispute(dispute_id: str) -> dict:
    with provider_errors():
        return as_dict(stripe.Dispute.retrieve(dispute_id, api_key=api_key()))


@handler
def on_dispute(event: Event) -> None:
    """Disputes: opened is audited; lost is a chargeback (licenses revoked, earnings reversed)."""
    dispute = _dispute(_object(event)["id"])
    intent_id = object_id(dispute.get("payment_intent"))
    if not intent_id:
        charge = fresh_charge(object_id(dispute.get("charge")))
        intent_id = object_id(charge.get("payment_intent"))
    if not intent_id:
        return
    intent = fresh_payment_intent(intent_id)
    order = order_of(intent) if _is_order(intent) else None
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


@handler
def on_checkout_session_completed(event: Event) -> None:
    session = fresh_checkout_session(_object(event)["id"])
    if (session.get("metadata") or {}).get("kind") != payments.KIND:
        return
    if session.get("payment_status") == "paid" and session.get("payment_intent"):
        pay_order(fresh_payment_intent(object_id(session["payment_intent"])))


@handler
def on_account_updated(event: Event) -> None:
    """A creator's Connect account changed: copy its state (dj-stripe re-read it)."""
    from djstripe.models import Account

    account_id = _object(event).get("id")
    data = stored(Account, account_id)
    if not data:
        with provider_errors():
            data = as_dict(stripe.Account.retrieve(account_id, api_key=api_key()))
    payments.sync_connect_account(data)


HANDLERS = {
    "payment_intent.succeeded": on_payment_intent_succeeded,
    "payment_intent.payment_failed": on_payment_intent_failed,
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_dispute,
    "charge.dispute.closed": on_dispute,
    "checkout.session.completed": on_checkout_session_completed,
    "checkout.session.async_payment_succeeded": on_checkout_session_completed,
    "account.updated": on_account_updated,
}


def connect() -> None:
    """Hook the handlers on dj-stripe's signals, after dj-stripe's own (which sync the object)."""
    for event_type, function in HANDLERS.items():
        WEBHOOK_SIGNALS[event_type].connect(
            function, sender=Event, dispatch_uid=f"marketplace:{event_type}"
        )
