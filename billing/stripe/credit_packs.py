"""Credit packs: N credits bought in one Stripe payment (a PaymentIntent).

The price is the buyer's plan's overage rate per credit (the default tier's when the plan's rate
is negotiated), rounded up to a whole cent. The credits are written when Stripe says the
payment succeeded (``fulfil``, once per PaymentIntent) and taken back, in proportion, when it is
refunded (``take_back_refunds``, once per refund).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import stripe
from django.conf import settings
from djstripe import models as djstripe_models

from accounts.models import User
from billing.models import CreditEntry
from billing.services import credits, plans
from billing.stripe.client import api_key, object_id, provider_errors
from billing.stripe.customers import customer_for, user_for_customer
from fmugateway.core.errors import DomainError

KIND = "credit_pack"


@dataclass(frozen=True)
class PackPrice:
    credits: int
    amount: int  # minor units
    currency: str


def price_pack(user, number: int) -> PackPrice:
    """What ``number`` credits cost ``user`` (``credit_pack_size`` if out of range)."""
    low, high = settings.CREDIT_PACK_MIN_CREDITS, settings.CREDIT_PACK_MAX_CREDITS
    if not isinstance(number, int) or isinstance(number, bool) or not low <= number <= high:
        raise DomainError(
            f"A credit pack holds between {low} and {high} credits.",
            code="credit_pack_size",
            fields={"credits": [{"code": "out_of_range", "detail": f"{low}..{high}"}]},
        )
    own = plans.plan_for(user).overage_rate_per_credit_usd
    for rate in (own, plans.default_tier().overage_rate_per_credit_usd):
        amount = plans.price_of_credits(rate, number)
        if amount is not None:
            return PackPrice(credits=number, amount=amount, currency=settings.STRIPE_CURRENCY)
    raise DomainError("Credit packs have no price on this server.", code="credit_pack_unpriced")


def start_purchase(user, number: int, *, payment_method: str | None = None) -> dict:
    """Create the PaymentIntent for a pack; the credits come with its success webhook.

    With ``payment_method`` the payment is confirmed now (a saved card); otherwise the browser
    confirms it with the returned client secret.
    """
    price = price_pack(user, number)
    key = api_key()
    customer = customer_for(user)
    params = {
        "amount": price.amount,
        "currency": price.currency,
        "customer": customer.id,
        "payment_method_types": ["card"],
        "metadata": {"kind": KIND, "user_id": str(user.pk), "credits": str(price.credits)},
    }
    if payment_method:
        params.update(payment_method=payment_method, confirm=True)
    with provider_errors(payment_method=payment_method):
        intent = stripe.PaymentIntent.create(api_key=key, **params)
        djstripe_models.PaymentIntent.sync_from_stripe_data(intent, api_key=key)
    return {
        "payment_intent": intent.id,
        "client_secret": intent.client_secret,
        "status": intent.status,
        "credits": price.credits,
        "amount": price.amount,
        "currency": price.currency,
    }


def _pack_of(intent: dict) -> tuple[User, int] | None:
    metadata = intent.get("metadata") or {}
    if metadata.get("kind") != KIND or not str(metadata.get("credits", "")).isdigit():
        return None
    user = user_for_customer(object_id(intent.get("customer")), metadata)
    return (user, int(metadata["credits"])) if user is not None else None


def purchase_reference(intent: dict) -> str:
    return f"stripe:{intent['id']}"


def fulfil(intent: dict) -> CreditEntry | None:
    """Add the pack's credits if ``intent`` (re-read from Stripe) succeeded; once per intent."""
    pack = _pack_of(intent)
    if pack is None or intent.get("status") != "succeeded":
        return None
    user, number = pack
    return credits.purchase_credits(
        credits.get_account(user),
        number,
        reference=purchase_reference(intent),
        memo=f"Credit pack: {number} credits",
    )


def take_back_refunds(charge: dict, intent: dict) -> list[CreditEntry]:
    """Take back the credits of each refund of ``charge`` (in proportion to the money returned).

    The purchase is written first if its success webhook has not arrived yet, so a refund that
    overtakes the payment's own event is not lost. Once per refund.
    """
    pack = _pack_of(intent)
    if pack is None:
        return []
    fulfil(intent)
    user, number = pack
    paid = int(charge.get("amount") or intent.get("amount") or 0)
    refunds = (charge.get("refunds") or {}).get("data") or []
    taken = []
    for refund in sorted(refunds, key=lambda item: (item.get("created") or 0, item["id"])):
        if refund.get("status") not in ("succeeded", "pending") or not paid:
            continue
        share = math.ceil(number * int(refund.get("amount") or 0) / paid)
        if share <= 0:
            continue
        entry = credits.reverse_purchase(
            credits.get_account(user),
            min(share, number),
            purchase_reference=purchase_reference(intent),
            refund_reference=refund["id"],
            memo=f"Credit pack refunded ({refund.get('amount')} {charge.get('currency', '')})",
        )
        if entry is not None:
            taken.append(entry)
    return taken
