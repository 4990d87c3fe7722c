"""Cart, coupons, checkout, payment, cancellation and refunds.

An order moves ``pending → paid → partially_refunded | refunded`` or ``pending → cancelled |
failed`` and is never deleted; every transition is audited. Free orders are paid at checkout;
paid ones wait for the payment webhook to call ``mark_order_paid``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from billing.services import earnings
from billing.stripe.client import PaymentsUnavailable, is_enabled
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError, NotFoundError
from licensing.models import License
from licensing.services.licenses import IssuedKey, issue_license, revoke_license
from marketplace.models import (
    Cart,
    CartItem,
    Coupon,
    LicenseRenewal,
    Listing,
    Order,
    OrderLine,
    Refund,
)
from marketplace.services.listings import creator_share_bps


@dataclass
class CheckoutResult:
    order: Order
    # Keys of licenses issued at checkout (free orders): shown once, in this answer.
    keys: list[IssuedKey] = field(default_factory=list)


def _order_snapshot(order: Order) -> dict[str, Any]:
    return {
        "status": order.status,
        "total_amount": order.total_amount,
        "refunded_amount": order.refunded_amount,
        "currency": order.currency,
        "payment_reference": order.payment_reference,
    }


# --- Cart -------------------------------------------------------------------------------------


def get_cart(user: User) -> Cart:
    cart, _ = Cart.objects.get_or_create(user=user)
    return cart


def _check_purchasable(user: User, listing: Listing) -> None:
    if listing.package.owner_id == user.pk:
        raise ConflictError("You cannot buy your own package.", code="own_package")
    trial = listing.pricing_model == Listing.PricingModel.TRIAL
    if trial and License.objects.filter(owner=user, listing=listing).exists():
        raise ConflictError("You have already used this trial.", code="trial_already_used")
    free = listing.pricing_model == Listing.PricingModel.FREE
    if free and License.objects.usable().filter(owner=user, listing=listing).exists():
        raise ConflictError("You already hold this free license.", code="already_licensed")


# Said on pages and in 503 answers when a paid SKU cannot be bought here.
NO_PAYMENTS = (
    "Paid licenses cannot be bought on this server: payments are not set up. Free items still work."
)


def require_payments() -> None:
    """503 ``payments_unavailable`` unless Stripe is configured: refused before anything is
    created, so no order that can never be paid exists."""
    if not is_enabled():
        raise PaymentsUnavailable(NO_PAYMENTS)


def add_to_cart(user: User, listing_id: int) -> CartItem:
    """Put a SKU in the user's cart; a paid one only where payments work (503
    ``payments_unavailable``)."""
    listing = Listing.objects.purchasable().select_related("package").filter(pk=listing_id).first()
    if listing is None:
        raise NotFoundError("No listing with this id is for sale.", code="listing_not_found")
    _check_purchasable(user, listing)
    if listing.price_amount > 0:
        require_payments()
    cart = get_cart(user)
    item, _ = CartItem.objects.get_or_create(cart=cart, listing=listing)
    return item


def remove_from_cart(user: User, item_id: int) -> None:
    deleted, _ = CartItem.objects.filter(pk=item_id, cart__user=user).delete()
    if not deleted:
        raise NotFoundError("No such item in your cart.")


def _find_coupon(code: str) -> Coupon:
    coupon = Coupon.objects.filter(code=code.strip().upper()).first()
    if coupon is None:
        raise NotFoundError("No such coupon.", code="coupon_not_found")
    return coupon


def check_coupon(coupon: Coupon, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if not coupon.is_active or (coupon.starts_at and coupon.starts_at > now):
        raise ConflictError("This coupon is not active.", code="coupon_inactive")
    if coupon.expires_at and coupon.expires_at <= now:
        raise ConflictError("This coupon has expired.", code="coupon_expired")
    if coupon.max_uses is not None and coupon.times_used >= coupon.max_uses:
        raise ConflictError("This coupon has been used up.", code="coupon_exhausted")


def apply_coupon(user: User, code: str | None) -> Cart:
    """Put a coupon on the cart (``None`` or empty removes it). Checked again at checkout."""
    cart = get_cart(user)
    coupon = _find_coupon(code) if code else None
    if coupon is not None:
        check_coupon(coupon)
        if (
            coupon.package_id is not None
            and not cart.items.filter(listing__package_id=coupon.package_id).exists()
        ):
            raise ConflictError(
                "This coupon does not apply to anything in your cart.", code="coupon_not_applicable"
            )
    cart.coupon = coupon
    cart.save(update_fields=["coupon", "updated_at"])
    return cart


# --- Checkout ---------------------------------------------------------------------------------


def _discounts(coupon: Coupon | None, listings: list[Listing], currency: str) -> list[int]:
    """The discount on each line (integer minor units, never above the line's price)."""
    discounts = [0] * len(listings)
    if coupon is None:
        return discounts
    eligible = [
        index
        for index, listing in enumerate(listings)
        if listing.price_amount > 0
        and (coupon.package_id is None or listing.package_id == coupon.package_id)
    ]
    if not eligible:
        raise ConflictError(
            "This coupon does not apply to anything in your cart.", code="coupon_not_applicable"
        )
    if coupon.kind == Coupon.Kind.PERCENT:
        assert coupon.percent_off is not None  # the table's check: set for its kind
        for index in eligible:
            discounts[index] = listings[index].price_amount * coupon.percent_off // 100
        return discounts
    if coupon.currency.upper() != currency:
        raise ConflictError(
            f"This coupon is for payments in {coupon.currency}.", code="coupon_currency_mismatch"
        )
    assert coupon.amount_off is not None  # the table's check: set for its kind
    base = sum(listings[index].price_amount for index in eligible)
    off = min(coupon.amount_off, base)
    for index in eligible:
        discounts[index] = listings[index].price_amount * off // base
    remainder = off - sum(discounts)
    for index in eligible:  # spread the rounding remainder over lines with room left
        room = listings[index].price_amount - discounts[index]
        take = min(room, remainder)
        discounts[index] += take
        remainder -= take
    return discounts


def _claim_coupon(coupon: Coupon) -> None:
    """Count one use, atomically: two buyers can never both take a coupon's last use."""
    claimed = Coupon.objects.filter(
        Q(max_uses__isnull=True) | Q(times_used__lt=F("max_uses")), pk=coupon.pk
    ).update(times_used=F("times_used") + 1)
    if not claimed:
        raise ConflictError("This coupon has been used up.", code="coupon_exhausted")


def _release_coupon(order: Order) -> None:
    if order.coupon_id:
        Coupon.objects.filter(pk=order.coupon_id, times_used__gt=0).update(
            times_used=F("times_used") - 1
        )


@transaction.atomic
def checkout(user: User) -> CheckoutResult:
    """Turn the cart into an order.

    Guarantees: prices, terms and the platform fee are snapshotted on the lines; one currency
    per order (``mixed_currencies``); the coupon's use is counted atomically (``coupon_exhausted``
    when another buyer took the last one); the cart is emptied; a free order is paid at once and
    its licenses' keys are in the result (the only time they are shown), unless a subscription
    renews at a price: then the buyer still gives the card that pays the renewals. An order
    with anything to pay is refused (503 ``payments_unavailable``, nothing created) where
    payments are not configured.
    """
    cart = Cart.objects.select_for_update().filter(user=user).first()
    items = list(cart.items.select_related("listing__package")) if cart else []
    if not items:
        raise DomainError("Your cart is empty.", code="cart_empty")
    assert cart is not None  # it has items
    listings = [item.listing for item in items]
    for listing in listings:
        if not listing.is_active or listing.package.status != listing.package.Status.LISTED:
            raise ConflictError(
                f"“{listing}” is no longer for sale; remove it from your cart.",
                code="listing_unavailable",
            )
        _check_purchasable(user, listing)
    currencies = {listing.currency for listing in listings if listing.price_amount > 0}
    if len(currencies) > 1:
        raise DomainError(
            "Pay for items in different currencies in separate orders.", code="mixed_currencies"
        )
    currency = currencies.pop() if currencies else listings[0].currency
    coupon = cart.coupon
    if coupon is not None:
        check_coupon(coupon)
    discounts = _discounts(coupon, listings, currency)
    subtotal = sum(listing.price_amount for listing in listings)
    discount = sum(discounts)
    renews = any(
        listing.pricing_model == Listing.PricingModel.SUBSCRIPTION and listing.price_amount > 0
        for listing in listings
    )
    if subtotal - discount > 0 or renews:
        require_payments()
    order = Order.objects.create(
        number=Order.new_number(),
        buyer=user,
        currency=currency,
        subtotal_amount=subtotal,
        discount_amount=discount,
        total_amount=subtotal - discount,
        coupon=coupon if discount else None,
        coupon_code=coupon.code if coupon and discount else "",
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            listing=listing,
            package_id=listing.package_id,
            description=f"{listing.package.name} — {listing.name}"[:255],
            kind=listing.kind,
            pricing_model=listing.pricing_model,
            currency=currency,
            unit_amount=listing.price_amount,
            discount_amount=line_discount,
            amount=listing.price_amount - line_discount,
            platform_fee_bps=10000 - creator_share_bps(listing),
        )
        for listing, line_discount in zip(listings, discounts, strict=True)
    )
    if order.coupon_id and coupon is not None:  # the order took the cart's coupon
        _claim_coupon(coupon)
    cart.items.all().delete()
    cart.coupon = None
    cart.save(update_fields=["coupon", "updated_at"])
    record("marketplace.order.created", actor=user, target=order, after=_order_snapshot(order))
    if not order.awaits_payment:
        keys = _pay(order, payment_reference="", actor=user, with_keys=True)
        return CheckoutResult(order, keys)
    return CheckoutResult(order)


def _pay(
    order: Order, *, payment_reference: str, actor: User | None, with_keys: bool
) -> list[IssuedKey]:
    before = _order_snapshot(order)
    order.status = Order.Status.PAID
    order.paid_at = timezone.now()
    if payment_reference:
        order.payment_reference = payment_reference
    order.save(update_fields=["status", "paid_at", "payment_reference", "updated_at"])
    record(
        "marketplace.order.paid",
        actor=actor,
        target=order,
        before=before,
        after=_order_snapshot(order),
    )
    issued = []
    for line in order.lines.select_related("listing", "package").order_by("id"):
        issued.append(
            issue_license(
                order.buyer, line.listing, order_line=line, with_key=with_keys, actor=actor
            )
        )
        earnings.record_sale(line)
    return issued


@transaction.atomic
def set_payment_reference(order: Order, payment_reference: str, actor: User | None = None) -> Order:
    """Remember the provider's payment id (e.g. the PaymentIntent) on a pending order."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.payment_reference == payment_reference:
        return order
    if order.status != Order.Status.PENDING:
        raise ConflictError("Only a pending order takes a payment.", code="order_not_pending")
    before = _order_snapshot(order)
    order.payment_reference = payment_reference
    order.save(update_fields=["payment_reference", "updated_at"])
    record(
        "marketplace.order.payment_started",
        actor=actor,
        target=order,
        before=before,
        after=_order_snapshot(order),
    )
    return order


@transaction.atomic
def mark_order_paid(
    order: Order | int,
    payment_reference: str,
    *,
    amount: int | None = None,
    currency: str | None = None,
    actor: User | None = None,
) -> Order:
    """The payment for ``order`` succeeded: mark it paid and issue its licenses.

    Idempotent: the order row is locked, and a call for an order already paid with the same
    reference returns it unchanged (10 webhook deliveries → licenses issued once). Licenses are
    issued without keys; the buyer claims each key once (``POST /licenses/{id}/key``).
    A pending order is paid by the first of its payments to succeed, whichever the buyer
    started last (the card page, then Stripe's hosted page): its reference replaces the one
    started before. Raises ``order_not_payable`` (409) for cancelled or failed orders (refund
    the payment), ``payment_reference_mismatch`` (409) when the order was already paid with
    another payment (refund this one), ``payment_amount_mismatch`` (400) when
    ``amount``/``currency`` are given and differ from the order's total.
    """
    order = Order.objects.select_for_update().get(pk=getattr(order, "pk", order))
    if order.status in (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED, Order.Status.REFUNDED):
        if payment_reference and order.payment_reference != payment_reference:
            raise ConflictError(
                "This order was paid with another payment.", code="payment_reference_mismatch"
            )
        return order
    if order.status != Order.Status.PENDING:
        raise ConflictError(
            f"This order is {order.status}; it cannot be paid.", code="order_not_payable"
        )
    if (amount is not None and amount != order.total_amount) or (
        currency is not None and currency.upper() != order.currency
    ):
        raise DomainError(
            f"The payment ({amount} {currency}) does not match the order's total "
            f"({order.total_amount} {order.currency}).",
            code="payment_amount_mismatch",
        )
    _pay(order, payment_reference=payment_reference, actor=actor, with_keys=False)
    return order


def _close_pending(
    order: Order, status: str, *, actor: User | None, reason: str, action: str
) -> Order:
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status == status:
        return order
    if order.status != Order.Status.PENDING:
        raise ConflictError(f"This order is {order.status}.", code="order_not_pending")
    before = _order_snapshot(order)
    order.status = status
    order.status_reason = reason[:255]
    order.closed_at = timezone.now()
    order.save(update_fields=["status", "status_reason", "closed_at", "updated_at"])
    _release_coupon(order)
    record(
        action,
        actor=actor,
        target=order,
        before=before,
        after={**_order_snapshot(order), "reason": reason},
    )
    return order


@transaction.atomic
def cancel_order(order: Order, *, actor: User | None = None, reason: str = "") -> Order:
    """A pending order is abandoned (by its buyer or an admin); its coupon use is given back."""
    return _close_pending(
        order,
        Order.Status.CANCELLED,
        actor=actor,
        reason=reason,
        action="marketplace.order.cancelled",
    )


@transaction.atomic
def fail_order(order: Order, *, reason: str = "", actor: User | None = None) -> Order:
    """The payment failed for good; its coupon use is given back."""
    return _close_pending(
        order, Order.Status.FAILED, actor=actor, reason=reason, action="marketplace.order.failed"
    )


# --- Refunds ----------------------------------------------------------------------------------


def _allocate(amount: int, remaining: list[int]) -> list[int]:
    """Split ``amount`` over lines in proportion to what is left to refund on each."""
    total = sum(remaining)
    shares = [left * amount // total for left in remaining]
    rest = amount - sum(shares)
    for index, left in enumerate(remaining):
        take = min(left - shares[index], rest)
        shares[index] += take
        rest -= take
    return shares


@transaction.atomic
def refund_order(
    order: Order | int,
    amount: int | None = None,
    *,
    reason: str,
    actor: User | None = None,
    reference: str = "",
    kind: str = Refund.Kind.REFUND,
    lines: Iterable[OrderLine | int] | None = None,
) -> Refund:
    """Give money back on a paid order: all that is left (``amount=None``) or part of it.

    The amount is spread over the order's lines (or only ``lines``) in proportion to what each
    has left (amount 0, or a free order: the free lines' licenses are revoked, nothing is paid
    back); a line refunded in full has its license revoked and its run quota removed. The
    creator's earnings are reversed in the append-only ledger (same fee split as the sale).
    The order becomes ``refunded`` or ``partially_refunded``. Idempotent per ``reference``
    (the provider's refund or dispute id): a second call returns the first refund. Chargebacks
    use ``kind="chargeback"``. Everything is audited.
    """
    order = Order.objects.select_for_update().get(pk=getattr(order, "pk", order))
    if reference:
        existing = Refund.objects.filter(order=order, reference=reference).first()
        if existing is not None:
            return existing
    if order.status not in (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED):
        raise ConflictError(
            f"This order is {order.status}; nothing to refund.", code="order_not_refundable"
        )
    targets = list(order.lines.select_for_update().order_by("id"))
    if lines is not None:
        wanted = {getattr(line, "pk", line) for line in lines}
        targets = [line for line in targets if line.pk in wanted]
    free = [line for line in targets if line.amount == 0]
    targets = [line for line in targets if line.amount > line.refunded_amount]
    remaining = [line.amount - line.refunded_amount for line in targets]
    refundable = min(sum(remaining), order.refundable_amount)
    if amount == 0 or (amount is None and refundable == 0 and free):
        return _revoke_free_lines(order, free, reason=reason, actor=actor, reference=reference)
    if amount is None:
        amount = refundable
    if amount <= 0 or amount > refundable:
        raise DomainError(
            f"A refund must be between 1 and {refundable} {order.currency} minor units.",
            code="refund_amount_invalid",
        )
    shares = _allocate(amount, remaining)
    refund = Refund.objects.create(
        order=order,
        kind=kind,
        amount=amount,
        currency=order.currency,
        reason=reason[:255],
        reference=reference,
        allocation={
            str(line.pk): share for line, share in zip(targets, shares, strict=True) if share
        },
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )
    for line, share in zip(targets, shares, strict=True):
        if not share:
            continue
        line.refunded_amount += share
        line.save(update_fields=["refunded_amount"])
        completes = line.refunded_amount == line.amount
        earnings.record_reversal(line, refund, share, completes_line=completes)
        if completes:
            license = License.objects.filter(order_line=line).first()
            if license is not None:
                revoke_license(
                    license, actor=actor, reason=f"{kind}: {reason}"[:255], remove_entitlements=True
                )
    before = _order_snapshot(order)
    order.refunded_amount += amount
    if order.refunded_amount == order.total_amount:
        order.status = Order.Status.REFUNDED
        order.closed_at = timezone.now()
    else:
        order.status = Order.Status.PARTIALLY_REFUNDED
    order.status_reason = reason[:255]
    order.save(
        update_fields=["refunded_amount", "status", "status_reason", "closed_at", "updated_at"]
    )
    renewal = LicenseRenewal.objects.filter(order=order).first()
    if renewal is not None and order.status == Order.Status.REFUNDED:
        from marketplace.services.subscriptions import take_back_renewal

        take_back_renewal(renewal, actor=actor)
    record(
        f"marketplace.order.{'chargeback' if kind == Refund.Kind.CHARGEBACK else 'refunded'}",
        actor=actor,
        target=order,
        before=before,
        after={
            **_order_snapshot(order),
            "refund": refund.pk,
            "amount": amount,
            "reason": reason,
            "reference": reference,
        },
    )
    return refund


def _revoke_free_lines(
    order: Order, lines: list[OrderLine], *, reason: str, actor: User | None, reference: str
) -> Refund:
    """A "refund" of free lines: nothing goes back, their licenses are revoked (audited).

    A free order whose every license is revoked is ``refunded``."""
    revocable = list(
        License.objects.filter(order_line__in=lines)
        .exclude(status=License.Status.REVOKED)
        .order_by("id")
    )
    if not revocable:
        raise ConflictError("Nothing left to refund on this order.", code="order_not_refundable")
    refund = Refund.objects.create(
        order=order,
        amount=0,
        currency=order.currency,
        reason=reason[:255],
        reference=reference,
        allocation={str(license.order_line_id): 0 for license in revocable},
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )
    for license in revocable:
        revoke_license(license, actor=actor, reason=f"refund: {reason}"[:255])
    before = _order_snapshot(order)
    if order.total_amount == 0:
        left = order.licenses.exclude(status=License.Status.REVOKED).exists()
        order.status = Order.Status.PARTIALLY_REFUNDED if left else Order.Status.REFUNDED
        order.closed_at = None if left else timezone.now()
    order.status_reason = reason[:255]
    order.save(update_fields=["status", "status_reason", "closed_at", "updated_at"])
    record(
        "marketplace.order.refunded",
        actor=actor,
        target=order,
        before=before,
        after={**_order_snapshot(order), "refund": refund.pk, "amount": 0, "reason": reason},
    )
    return refund
