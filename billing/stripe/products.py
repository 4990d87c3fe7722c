"""The Stripe catalog the platform sells from: the Pro tier's monthly price.

``STRIPE_PRO_PRICE`` is a price id (``price_...``) or a lookup key; a lookup key is resolved
once an hour. ``sync_products()`` (``manage.py stripe_sync_products``) creates the product and
the price from ``pricing_tiers.json`` when Stripe does not have them yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe
from django.conf import settings
from django.core.cache import cache

from billing.services import plans
from billing.stripe.client import PaymentsUnavailable, api_key, as_dict, provider_errors

PRO_PLAN = "pro"
_CACHE_SECONDS = 3600


def _is_id(reference: str) -> bool:
    return reference.startswith(("price_", "plan_"))


def _lookup(reference: str) -> dict | None:
    with provider_errors():
        found = stripe.Price.list(lookup_keys=[reference], limit=1, api_key=api_key())
    data = as_dict(found).get("data") or []
    return data[0] if data else None


def pro_price_id() -> str:
    """The id of the Pro tier's recurring price; 503 if Stripe has none yet."""
    reference = settings.STRIPE_PRO_PRICE
    if _is_id(reference):
        return reference
    cache_key = f"billing:stripe:price:{reference}"
    price_id = cache.get(cache_key)
    if price_id is None:
        price = _lookup(reference)
        if price is None:
            raise PaymentsUnavailable(
                f"The Pro price {reference!r} does not exist at Stripe yet; an operator runs "
                "`manage.py stripe_sync_products`."
            )
        price_id = price["id"]
        cache.set(cache_key, price_id, _CACHE_SECONDS)
    return price_id


def plan_for_price(price_id: str | None) -> str | None:
    """Which tier code a subscription's price stands for (only Pro is sold through Stripe)."""
    if not price_id:
        return None
    try:
        return PRO_PLAN if price_id in {pro_price_id(), settings.STRIPE_PRO_PRICE} else None
    except PaymentsUnavailable:
        return None


@dataclass(frozen=True)
class SyncResult:
    price_id: str
    product_id: str
    created: bool


def sync_products() -> SyncResult:
    """Make sure Stripe sells Pro at the price of ``pricing_tiers.json``; idempotent."""
    tier = plans.get_tier(PRO_PLAN)
    if not isinstance(tier.monthly_price_usd, (int, float)):
        raise PaymentsUnavailable("The Pro tier has no numeric monthly price.")
    reference = settings.STRIPE_PRO_PRICE
    if _is_id(reference):
        with provider_errors():
            found = as_dict(stripe.Price.retrieve(reference, api_key=api_key()))
        return SyncResult(price_id=found["id"], product_id=found["product"], created=False)
    existing = _lookup(reference)
    if existing is not None:
        return SyncResult(existing["id"], existing["product"], created=False)
    key = api_key()
    with provider_errors():
        product = stripe.Product.create(
            name=f"FMU Gateway {tier.name}",
            metadata={"plan": tier.code},
            api_key=key,
            idempotency_key=f"fmugw-product-{tier.code}",
        )
        price = stripe.Price.create(
            product=product.id,
            currency=settings.STRIPE_CURRENCY,
            unit_amount=round(tier.monthly_price_usd * 100),
            recurring={"interval": "month"},
            lookup_key=reference,
            metadata={"plan": tier.code},
            api_key=key,
            idempotency_key=f"fmugw-price-{reference}",
        )
    cache.delete(f"billing:stripe:price:{reference}")
    return SyncResult(price_id=price.id, product_id=product.id, created=True)
