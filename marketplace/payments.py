"""Paying for orders through Stripe, and creators' Stripe Connect accounts.

``start_payment`` gives a pending paid order a PaymentIntent (one per order: asking again
returns the same one while it can still be paid) and remembers it as the order's payment
reference; the order is paid when Stripe says so (``marketplace.webhooks``).
``start_connect_onboarding`` gives a creator an Express account and a link to Stripe's hosted
onboarding; ``sync_connect_account`` copies the account's state onto the creator when Stripe
reports it (``account.updated``).
"""

from __future__ import annotations

import logging

import stripe
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from djstripe import models as djstripe_models

from billing.stripe.client import api_key, as_dict, provider_errors
from billing.stripe.customers import customer_for
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, ForbiddenError, NotFoundError
from marketplace.models import Creator, Order
from marketplace.services import set_payment_reference

logger = logging.getLogger(__name__)

KIND = "order"
# PaymentIntent states in which it can still be paid (the buyer's browser confirms it).
_PAYABLE = {
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
}


def _intent_answer(order: Order, intent: dict) -> dict:
    return {
        "order": order.pk,
        "number": order.number,
        "payment_intent": intent["id"],
        "client_secret": intent.get("client_secret"),
        "status": intent.get("status"),
        "amount": intent.get("amount"),
        "currency": (intent.get("currency") or "").upper(),
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
    }


def _metadata(order: Order, user) -> dict:
    return {
        "kind": KIND,
        "order_id": str(order.pk),
        "order_number": order.number,
        "user_id": str(user.pk),
    }


def start_checkout(order: Order, user) -> dict:
    """A Stripe Checkout page that pays ``order`` (production's hosted payment page).

    Its PaymentIntent carries the order in its metadata, like ``start_payment``'s, so the same
    webhooks pay it (``checkout.session.completed`` or ``payment_intent.succeeded``).
    """
    _check_payable(order, user)
    key = api_key()
    customer = customer_for(user)
    lines = [
        {
            "price_data": {
                "currency": order.currency.lower(),
                "unit_amount": line.amount,
                "product_data": {"name": line.description},
            },
            "quantity": 1,
        }
        for line in order.lines.order_by("id")
        if line.amount > 0
    ]
    with provider_errors():
        session = stripe.checkout.Session.create(
            mode="payment",
            customer=customer.id,
            line_items=lines,
            client_reference_id=str(order.pk),
            metadata=_metadata(order, user),
            payment_intent_data={"metadata": _metadata(order, user)},
            # Back to the order's payment page, which follows the payment until it is paid.
            success_url=f"{settings.SITE_URL}{reverse('order-pay', args=[order.number])}",
            cancel_url=f"{settings.SITE_URL}{reverse('order-pay', args=[order.number])}",
            api_key=key,
        )
    record(
        "marketplace.order.checkout_started",
        actor=user,
        target=order,
        after={"checkout_session": session.id},
    )
    return {
        "order": order.pk,
        "number": order.number,
        "checkout_url": session.url,
        "session": session.id,
    }


def _check_payable(order: Order, user) -> None:
    if order.buyer_id != getattr(user, "pk", None):
        raise NotFoundError("No such order.")
    api_key()
    if order.status != Order.Status.PENDING:
        raise ConflictError(f"This order is {order.status}.", code="order_not_pending")
    if order.total_amount <= 0:
        raise ConflictError("This order has nothing to pay.", code="nothing_to_pay")


def start_payment(order: Order, user) -> dict:
    """The PaymentIntent that pays ``order`` (created on first call, then reused).

    Only the buyer's own pending order with something to pay (404 / 409 ``order_not_pending``,
    ``nothing_to_pay``). A PaymentIntent that can no longer be paid (cancelled) is replaced.
    503 ``payments_unavailable`` without Stripe.
    """
    _check_payable(order, user)
    key = api_key()
    previous = order.payment_reference
    if previous.startswith("pi_"):
        with provider_errors():
            existing = stripe.PaymentIntent.retrieve(previous, api_key=key)
        if existing.status in _PAYABLE or existing.status == "succeeded":
            return _intent_answer(order, as_dict(existing))
    customer = customer_for(user)
    with provider_errors():
        intent = stripe.PaymentIntent.create(
            amount=order.total_amount,
            currency=order.currency.lower(),
            customer=customer.id,
            payment_method_types=["card"],
            metadata=_metadata(order, user),
            idempotency_key=f"fmugw-order-{order.pk}-{previous or 'first'}",
            api_key=key,
        )
        djstripe_models.PaymentIntent.sync_from_stripe_data(intent, api_key=key)
    order = set_payment_reference(order, intent.id, actor=user)
    return _intent_answer(order, as_dict(intent))


# --- Stripe Connect ---------------------------------------------------------------------------


def start_connect_onboarding(user) -> dict:
    """An onboarding link for the creator's Stripe Express account (made on first call).

    404 ``not_a_creator`` without a creator profile; 403 ``creator_not_allowed`` when it was
    rejected or suspended. The account's state reaches the creator with ``account.updated``.
    """
    creator = Creator.objects.filter(user=user).first()
    if creator is None:
        raise NotFoundError(
            "Apply as a creator first (POST /api/v1/creators/apply).", code="not_a_creator"
        )
    if creator.status in (Creator.Status.REJECTED, Creator.Status.SUSPENDED):
        raise ForbiddenError(
            f"This creator profile is {creator.status}.", code="creator_not_allowed"
        )
    key = api_key()
    if not creator.stripe_account_id:
        with provider_errors():
            account = stripe.Account.create(
                type="express",
                email=creator.support_email,
                metadata={"creator_id": str(creator.pk), "user_id": str(user.pk)},
                capabilities={
                    "card_payments": {"requested": True},
                    "transfers": {"requested": True},
                },
                idempotency_key=f"fmugw-connect-{creator.pk}",
                api_key=key,
            )
        with transaction.atomic():
            locked = Creator.objects.select_for_update().get(pk=creator.pk)
            if not locked.stripe_account_id:
                locked.stripe_account_id = account.id
                locked.save(update_fields=["stripe_account_id", "updated_at"])
                record(
                    "marketplace.creator.connect_created",
                    actor=user,
                    target=locked,
                    after={"stripe_account_id": account.id},
                )
            creator = locked
    with provider_errors():
        link = stripe.AccountLink.create(
            account=creator.stripe_account_id,
            refresh_url=f"{settings.SITE_URL}/?connect=refresh",
            return_url=f"{settings.SITE_URL}/?connect=done",
            type="account_onboarding",
            api_key=key,
        )
    return {
        "account": creator.stripe_account_id,
        "url": link.url,
        "expires_at": link.expires_at,
        "charges_enabled": creator.charges_enabled,
        "payouts_enabled": creator.payouts_enabled,
        "details_submitted": creator.details_submitted,
    }


_CONNECT_FIELDS = ("charges_enabled", "payouts_enabled", "details_submitted")


@transaction.atomic
def sync_connect_account(account: dict) -> Creator | None:
    """Copy a Connect account's state (as re-read from Stripe) onto its creator; audited when
    it changes, idempotent otherwise. ``None`` for accounts that are no creator's."""
    if not account.get("id"):
        return None
    creator = Creator.objects.select_for_update().filter(stripe_account_id=account["id"]).first()
    if creator is None:
        return None
    before = {field: getattr(creator, field) for field in _CONNECT_FIELDS}
    after = {field: bool(account.get(field)) for field in _CONNECT_FIELDS}
    if before != after:
        for field, value in after.items():
            setattr(creator, field, value)
        creator.save(update_fields=[*_CONNECT_FIELDS, "updated_at"])
        record("marketplace.creator.connect_updated", target=creator, before=before, after=after)
    return creator
