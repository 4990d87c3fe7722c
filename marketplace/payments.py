"""Paying for orders through Stripe.

``start_payment`` gives a pending paid order a PaymentIntent (one per order: asking again
returns the same one while it can still be paid) and remembers it as the order's payment
reference; the order is paid when Stripe says so (``marketplace.webhooks``).
``pay_order`` and ``refund_from_charge`` turn a PaymentIntent and a charge (re-read from Stripe)
into the order's state; the webhooks and ``refund_payment`` (an administrator's refund, made at
Stripe first) both go through them, so a refund has one effect however it arrives.
Creators' Stripe Connect accounts are billing's (``billing.stripe.connect``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from djstripe import models as djstripe_models

from billing.stripe.client import api_key, as_dict, object_id, provider_errors
from billing.stripe.customers import customer_for
from billing.stripe.objects import (
    fresh_charge,
    fresh_checkout_session,
    fresh_payment_intent,
    fresh_subscription,
)
from billing.stripe.plan_subscriptions import period_of
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError, NotFoundError
from licensing.models import License
from marketplace.models import LicenseRenewal, Listing, Order, OrderLine, Refund
from marketplace.services import mark_order_paid, refund_order, set_payment_reference, subscriptions

logger = logging.getLogger(__name__)

KIND = "order"
# PaymentIntent states in which it can still be paid (the buyer's browser confirms it).
_PAYABLE = {
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
}


def _is_setup(intent: dict) -> bool:
    return intent.get("object") == "setup_intent" or intent.get("id", "").startswith("seti_")


def _intent_answer(order: Order, intent: dict) -> dict:
    return {
        "order": order.pk,
        "number": order.number,
        "setup_intent" if _is_setup(intent) else "payment_intent": intent["id"],
        "client_secret": intent.get("client_secret"),
        "status": intent.get("status"),
        "amount": intent.get("amount", 0),
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


def _saving_card(order: Order) -> dict:
    """Subscription SKUs renew off-session: the card that pays the order is kept for them."""
    return {"setup_future_usage": "off_session"} if order.renews else {}


def start_checkout(order: Order, user) -> dict:
    """A Stripe Checkout page that pays ``order`` (production's hosted payment page), or, with
    nothing to pay now but renewals to charge, that takes the card for them (setup mode).

    Its PaymentIntent (SetupIntent) carries the order in its metadata, like ``start_payment``'s,
    so the same webhooks pay it (``checkout.session.completed``, ``payment_intent.succeeded``
    or ``setup_intent.succeeded``).
    """
    _check_payable(order, user)
    key = api_key()
    customer = customer_for(user)
    mode: dict[str, Any]  # Checkout's arguments for a setup or a payment
    if order.total_amount == 0:
        mode = {
            "mode": "setup",
            "currency": order.currency.lower(),
            "setup_intent_data": {"metadata": _metadata(order, user)},
        }
    else:
        mode = {
            "mode": "payment",
            "line_items": [
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
            ],
            "payment_intent_data": {"metadata": _metadata(order, user), **_saving_card(order)},
        }
    back = f"{settings.SITE_URL}{reverse('order-pay', args=[order.number])}"
    with provider_errors():
        session = stripe.checkout.Session.create(
            customer=customer.id,
            client_reference_id=str(order.pk),
            metadata=_metadata(order, user),
            # Back to the order's payment page, which follows the payment until it is paid
            # (Stripe puts the session's id in place of the placeholder).
            success_url=f"{back}?checkout={{CHECKOUT_SESSION_ID}}",
            cancel_url=back,
            api_key=key,
            **mode,
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


def checkout_completed(order: Order, session_id: str) -> bool:
    """Whether ``session_id`` is a Stripe Checkout session of ``order`` that the buyer completed
    (re-read from Stripe: the buyer came back from the hosted page; its webhook pays the order)."""
    if not session_id.startswith("cs_"):
        return False
    try:
        session = fresh_checkout_session(session_id)
    except DomainError:
        return False
    return (session.get("metadata") or {}).get("order_id") == str(order.pk) and session.get(
        "status"
    ) == "complete"


def _check_payable(order: Order, user) -> None:
    if order.buyer_id != getattr(user, "pk", None):
        raise NotFoundError("No such order.")
    api_key()
    if order.status != Order.Status.PENDING:
        raise ConflictError(f"This order is {order.status}.", code="order_not_pending")
    if not order.awaits_payment:
        raise ConflictError("This order has nothing to pay.", code="nothing_to_pay")


def start_payment(order: Order, user) -> dict:
    """The PaymentIntent that pays ``order`` (created on first call, then reused), or, for an
    order with nothing to pay now whose subscription renews at a price (a coupon paid its first
    period), the SetupIntent that keeps the buyer's card for the renewals.

    Only the buyer's own pending order with something to pay (404 / 409 ``order_not_pending``,
    ``nothing_to_pay``). An intent that can no longer be confirmed (cancelled) is replaced.
    503 ``payments_unavailable`` without Stripe.
    """
    _check_payable(order, user)
    key = api_key()
    setup = order.total_amount == 0
    intents = stripe.SetupIntent if setup else stripe.PaymentIntent
    previous = order.payment_reference
    if previous.startswith("seti_" if setup else "pi_"):
        with provider_errors():
            existing = intents.retrieve(previous, api_key=key)
        if existing.status in _PAYABLE or existing.status == "succeeded":
            return _intent_answer(order, as_dict(existing))
    terms: dict[str, Any]  # the intent's own arguments
    if setup:
        kind, terms = "setup-", {"usage": "off_session"}
    else:
        kind = ""
        terms = {
            "amount": order.total_amount,
            "currency": order.currency.lower(),
            **_saving_card(order),
        }
    customer = customer_for(user)
    with provider_errors():
        intent = intents.create(
            customer=customer.id,
            payment_method_types=["card"],
            metadata=_metadata(order, user),
            idempotency_key=f"fmugw-order-{kind}{order.pk}-{previous or 'first'}",
            api_key=key,
            **terms,
        )
        stored_as = djstripe_models.SetupIntent if setup else djstripe_models.PaymentIntent
        stored_as.sync_from_stripe_data(intent, api_key=key)
    order = set_payment_reference(order, intent.id, actor=user)
    return _intent_answer(order, as_dict(intent))


# --- Payments and refunds from Stripe -----------------------------------------------------


def is_order(intent: dict) -> bool:
    return (intent.get("metadata") or {}).get("kind") == KIND


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
            metadata={"kind": KIND, "reason": why[:200]},
            idempotency_key=f"fmugw-stray-{intent['id']}",
            api_key=api_key(),
        )
    record(
        "marketplace.order.payment_returned",
        target=order,
        after={"payment_intent": intent["id"], "reason": why},
    )


def pay_order(intent: dict) -> Order | None:
    """Mark the order paid if ``intent`` (re-read from Stripe) succeeded; idempotent.

    ``intent`` is a PaymentIntent, or a SetupIntent for an order with nothing to pay now (it
    pays only a zero total: it keeps the card that the renewals charge)."""
    if not is_order(intent) or intent.get("status") != "succeeded":
        return None
    order = order_of(intent)
    if order is None:
        logger.warning("Intent %s names no order of ours", intent["id"])
        return None
    setup = _is_setup(intent)
    amount: int | None
    if setup:
        amount, currency = 0, None
    else:
        amount = intent.get("amount_received") or intent.get("amount")
        currency = (intent.get("currency") or "").upper()
    started = order.payment_reference
    try:
        order = mark_order_paid(order, intent["id"], amount=amount, currency=currency)
    except DomainError as exc:
        if exc.code in ("order_not_payable", "payment_reference_mismatch") and not setup:
            _refund_stray_payment(intent, order, f"{exc.code}: {exc.detail}")
            return None
        record(
            "marketplace.order.payment_rejected",
            target=order,
            after={"payment_intent": intent["id"], "code": exc.code, "detail": exc.detail},
        )
        raise
    if started and started != intent["id"]:
        _cancel_superseded(order, started)
    start_license_subscriptions(order, intent)
    return order


def _cancel_superseded(order: Order, reference: str) -> None:
    """The order was paid another way (Stripe's hosted page after the card page): cancel the
    payment started before, so that its client secret can no longer charge the buyer. Should
    it have succeeded meanwhile, its own webhook refunds it (the order is paid)."""
    intents = stripe.SetupIntent if reference.startswith("seti_") else stripe.PaymentIntent
    try:
        intents.cancel(reference, api_key=api_key())
    except stripe.StripeError as exc:  # already cancelled or succeeded: nothing to stop
        logger.info("Superseded payment %s not cancelled: %s", reference, exc)
    else:
        record("marketplace.order.payment_superseded", target=order, after={"cancelled": reference})


def refund_from_charge(charge: dict, intent: dict) -> list[Refund]:
    """Record each refund of ``charge`` on its order (once per Stripe refund id): an order's
    payment, or a subscription renewal's invoice payment (its renewal order)."""
    if is_order(intent):
        order = order_of(intent)
    else:
        order = Order.objects.filter(payment_reference=intent["id"], renewal__isnull=False).first()
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
        metadata = item.get("metadata") or {}
        reason = metadata.get("reason") or item.get("reason") or "refunded at Stripe"
        done.append(
            refund_order(
                order,
                int(item["amount"]),
                reason=reason,
                reference=item["id"],
                lines=_lines_of(metadata),
                actor=_actor_of(metadata),
            )
        )
    end_subscriptions_of_revoked(order)
    return done


def _lines_of(metadata: dict) -> list[int] | None:
    """The order lines a refund names (``refund_payment`` of some lines); ``None``: all."""
    ids = [part for part in str(metadata.get("order_lines") or "").split(",") if part.isdigit()]
    return [int(part) for part in ids] or None


def _actor_of(metadata: dict):
    from django.contrib.auth import get_user_model

    actor_id = str(metadata.get("actor_id") or "")
    return get_user_model().objects.filter(pk=int(actor_id)).first() if actor_id.isdigit() else None


def refund_payment(
    order: Order,
    *,
    actor,
    reason: str = "refunded by an administrator",
    lines: list[OrderLine | int] | None = None,
) -> Refund:
    """Refund what is left of ``order`` (or of some of its ``lines``) — an administrator's act.

    Paid money is refunded at Stripe first; the order then follows through ``refund_from_charge``,
    the path of the ``charge.refunded`` webhook, so that webhook arriving later (or ten times)
    changes nothing more. A refund of some lines names them in its metadata: only their licenses
    are revoked and only their earnings reversed. Free orders have nothing to pay back: their
    licenses are revoked (``refund_order`` with amount 0). 409 ``order_not_refundable`` when
    nothing is left; 503 without Stripe; 502 when Stripe refuses.
    """
    order = Order.objects.get(pk=order.pk)
    wanted = (
        None
        if lines is None
        else sorted({line.pk if isinstance(line, OrderLine) else line for line in lines})
    )
    targets = order.lines.all() if wanted is None else order.lines.filter(pk__in=wanted)
    if wanted is not None and targets.count() != len(wanted):
        raise NotFoundError("No such line on this order.", code="order_line_not_found")
    left = sum(line.amount - line.refunded_amount for line in targets)
    amount = min(left, order.refundable_amount)
    if order.total_amount == 0 or (amount == 0 and all(line.amount == 0 for line in targets)):
        refund = refund_order(order, 0, reason=reason, actor=actor, lines=wanted)
        end_subscriptions_of_revoked(order)  # a coupon paid the first period; the card renews
        return refund
    if order.status not in (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED) or amount <= 0:
        raise ConflictError(
            f"This order is {order.status}; nothing to refund.", code="order_not_refundable"
        )
    if not order.payment_reference.startswith("pi_"):
        raise ConflictError("This order was not paid through Stripe.", code="order_not_refundable")
    metadata = {
        "kind": KIND,
        "order_id": str(order.pk),
        "reason": reason[:200],
        "actor_id": str(getattr(actor, "pk", "") or ""),
    }
    if wanted is not None:
        metadata["order_lines"] = ",".join(map(str, wanted))
    with provider_errors():
        created = stripe.Refund.create(
            payment_intent=order.payment_reference,
            amount=amount,
            metadata=metadata,
            # A double click (or a retry) is one refund; the next refund of the order is another.
            idempotency_key=(
                f"fmugw-refund-{order.pk}-{order.refunded_amount}-{metadata.get('order_lines', '')}"
            ),
            api_key=api_key(),
        )
    made = as_dict(created)
    charge_id = object_id(made["charge"])
    assert charge_id is not None  # a refund of a payment intent names its charge
    intent = fresh_payment_intent(order.payment_reference)
    refund_from_charge(fresh_charge(charge_id), intent)
    return Refund.objects.get(order=order, reference=made["id"])


# --- Subscription SKUs -----------------------------------------------------------------------

LICENSE_KIND = "license"


def _renewal_price(line: OrderLine) -> str:
    """The Stripe price that renews ``line``'s SKU at its checkout price (made on first need)."""
    interval = line.listing.billing_interval or Listing.Interval.MONTH
    currency = line.currency.lower()
    lookup = f"fmugw-listing-{line.listing_id}-{line.unit_amount}-{currency}-{interval}"
    key = api_key()
    with provider_errors():
        found = as_dict(stripe.Price.list(lookup_keys=[lookup], limit=1, api_key=key))
        if found.get("data"):
            return found["data"][0]["id"]
        product = stripe.Product.create(
            name=line.description[:250],
            metadata={"listing_id": str(line.listing_id)},
            idempotency_key=f"fmugw-listing-product-{lookup}",
            api_key=key,
        )
        price = stripe.Price.create(
            product=product.id,
            currency=line.currency.lower(),
            unit_amount=line.unit_amount,
            recurring={"interval": interval},
            lookup_key=lookup,
            metadata={"listing_id": str(line.listing_id)},
            idempotency_key=f"fmugw-listing-price-{lookup}",
            api_key=key,
        )
    return price.id


def start_license_subscriptions(order: Order, intent: dict) -> list[License]:
    """Give each subscription license of a paid ``order`` the Stripe subscription that renews it.

    The order paid the first period, so the subscription bills nothing until the license's
    ``expires_at`` (a free period until then) and then charges the card that paid the order.
    Once per license (a replayed payment event finds it started); a license refunded meanwhile
    gets none.
    """
    licenses = list(
        License.objects.filter(
            order=order,
            pricing_model=Listing.PricingModel.SUBSCRIPTION,
            subscription_id="",
            status=License.Status.ACTIVE,
        ).select_related("order_line__listing")
    )
    if not licenses:
        return []
    key = api_key()
    customer = object_id(intent.get("customer")) or customer_for(order.buyer).id
    method = object_id(intent.get("payment_method"))
    with provider_errors():
        if method:
            card = as_dict(stripe.PaymentMethod.retrieve(method, api_key=key))
            if object_id(card.get("customer")) != customer:
                stripe.PaymentMethod.attach(method, customer=customer, api_key=key)
    started = []
    for license in licenses:
        assert license.order_line is not None  # bought: the licenses of an order's lines
        price = _renewal_price(license.order_line)
        with transaction.atomic():
            locked = License.objects.select_for_update().get(pk=license.pk)
            if locked.subscription_id or locked.status != License.Status.ACTIVE:
                continue
            assert locked.expires_at is not None  # a subscription SKU's license has a term
            with provider_errors():
                created = stripe.Subscription.create(
                    customer=customer,
                    items=[{"price": price}],
                    trial_end=int(locked.expires_at.timestamp()),
                    # stripe-python leaves a None argument out of the request.
                    default_payment_method=method,  # type: ignore[arg-type]
                    metadata={
                        "kind": LICENSE_KIND,
                        "license_id": str(locked.pk),
                        "order_id": str(order.pk),
                        "user_id": str(order.buyer_id),
                    },
                    idempotency_key=f"fmugw-license-subscription-{locked.pk}",
                    api_key=key,
                )
            started.append(subscriptions.attach_subscription(locked, created.id, created.status))
    return started


def license_of_subscription(subscription_id: str | None) -> License | None:
    if not subscription_id:
        return None
    return License.objects.filter(subscription_id=subscription_id).first()


def _period_end(invoice: dict, subscription_id: str) -> datetime | None:
    """The end of the period an invoice paid: its subscription line's period."""
    raw_ends = [
        (line.get("period") or {}).get("end")
        for line in ((invoice.get("lines") or {}).get("data") or [])
        if object_id(line.get("subscription")) in (subscription_id, None)
    ]
    ends = [int(end) for end in raw_ends if end]
    if ends:
        return datetime.fromtimestamp(max(ends), tz=UTC)
    return period_of(fresh_subscription(subscription_id))[1]


def apply_invoice(invoice: dict, license: License) -> LicenseRenewal | None:
    """A paid invoice (re-read from Stripe) of ``license``'s subscription renews it, once."""
    amount = int(invoice.get("amount_paid") or 0)
    if invoice.get("status") != "paid" or amount <= 0:
        return None  # the free first period, or not paid (yet)
    period_end = _period_end(invoice, license.subscription_id)
    if period_end is None:
        return None
    return subscriptions.renew_license(
        license,
        invoice_id=invoice["id"],
        amount=amount,
        # A subscription license comes from an order.
        currency=invoice.get("currency") or license.order.currency,  # type: ignore[union-attr]
        period_end=period_end,
        payment_reference=object_id(invoice.get("payment_intent")) or "",
    )


def cancel_license_subscription(license: License) -> License:
    """End a license's subscription at Stripe now (refunded, revoked or lapsed); idempotent."""
    if not license.subscription_id or license.subscription_status in subscriptions.ENDED:
        return license
    key = api_key()
    with provider_errors():
        ended = as_dict(stripe.Subscription.cancel(license.subscription_id, api_key=key))
    return follow_subscription(license, ended)


def stop_renewing(license: License, actor) -> License:
    """The owner stops a subscription license's renewals: Stripe bills nothing more and the
    license lapses at the end of the period already paid. 409 ``not_renewing`` when it has no
    subscription in force; idempotent at Stripe (cancelling at period end twice is once)."""
    if not license.subscription_id or license.subscription_status in (
        *subscriptions.ENDED,
        subscriptions.ENDING,
    ):
        raise ConflictError("This license does not renew.", code="not_renewing")
    key = api_key()
    with provider_errors():
        changed = stripe.Subscription.modify(
            license.subscription_id, cancel_at_period_end=True, api_key=key
        )
    return follow_subscription(license, as_dict(changed), actor=actor)


def follow_subscription(license: License, data: dict, *, actor=None) -> License:
    """Apply the subscription ``data`` (re-read from Stripe) to its license."""
    status = data.get("status") or ""
    if data.get("cancel_at_period_end") and status in ("active", "trialing"):
        status = subscriptions.ENDING
    return subscriptions.apply_subscription_status(license, status, actor=actor)


def sync_subscription_pause(license_id: int) -> str:
    """Make the license's Stripe subscription follow its status: a suspended license's billing
    is paused (invoices of periods that pass meanwhile are voided, nothing is charged); a
    reinstated one's resumes, and the license runs to the end of the current period, which the
    pause left unbilled. Reads the license now, so a repeated or late call does the right thing.
    Returns ``paused``, ``resumed`` or ``""`` (no subscription to follow)."""
    license = (
        License.objects.filter(pk=license_id, pricing_model=Listing.PricingModel.SUBSCRIPTION)
        .exclude(subscription_id="")
        .first()
    )
    if (
        license is None
        or license.status not in (License.Status.SUSPENDED, License.Status.ACTIVE)
        or license.subscription_status in subscriptions.ENDED
    ):
        return ""  # revoked, expired or ended: nothing bills any more
    suspended = license.status == License.Status.SUSPENDED
    with provider_errors():
        changed = as_dict(
            stripe.Subscription.modify(
                license.subscription_id,
                pause_collection={"behavior": "void"} if suspended else "",
                api_key=api_key(),
            )
        )
    if suspended:
        return "paused"
    period_end = changed.get("current_period_end")
    if period_end:
        subscriptions.extend_after_pause(license, datetime.fromtimestamp(int(period_end), tz=UTC))
    return "resumed"


def end_subscriptions_of_revoked(order: Order) -> None:
    """A refund or chargeback revoked subscription licenses, or took a renewal back in full:
    stop billing for them (the buyer asked for the money back)."""
    revoked = License.objects.filter(
        order=order, status=License.Status.REVOKED, pricing_model=Listing.PricingModel.SUBSCRIPTION
    ).exclude(subscription_id="")
    taken_back = License.objects.filter(
        renewals__order=order, renewals__order__status=Order.Status.REFUNDED
    ).exclude(subscription_id="")
    for license in (*revoked, *taken_back):
        cancel_license_subscription(license)


# --- Stripe Connect ---------------------------------------------------------------------------
