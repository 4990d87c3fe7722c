"""Listings (SKUs): created and changed by the package's owner, an approved creator."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import User
from accounts.services.creators import require_creator
from fmugateway.core.audit import record
from fmugateway.core.errors import DomainError, ForbiddenError
from marketplace.models import (
    LISTING_MAX_DAYS,
    LISTING_MAX_MACHINES,
    LISTING_MAX_PRICE,
    LISTING_MAX_RUNS,
    LISTING_MAX_TRIAL_DAYS,
    Listing,
)
from registry.models import Package

EDITABLE = (
    "name",
    "description",
    "kind",
    "pricing_model",
    "price_amount",
    "currency",
    "billing_interval",
    "trial_days",
    "trial_runs",
    "run_quota",
    "max_activations",
    "seats",
    "validity_days",
    "license_template",
    "revenue_share_bps",
    "is_active",
)
# The most each number may be (the model's validators and the API's serializer say the same).
UPPER_BOUNDS = {
    "price_amount": LISTING_MAX_PRICE,
    "trial_days": LISTING_MAX_TRIAL_DAYS,
    "trial_runs": LISTING_MAX_RUNS,
    "run_quota": LISTING_MAX_RUNS,
    "max_activations": LISTING_MAX_MACHINES,
    "seats": LISTING_MAX_MACHINES,
    "validity_days": LISTING_MAX_DAYS,
    "revenue_share_bps": 10000,
}


def _invalid(field: str, detail: str, code: str = "invalid") -> DomainError:
    return DomainError(detail, code=code, fields={field: [{"code": code, "detail": detail}]})


def max_creator_share_bps() -> int:
    return 10000 - settings.PLATFORM_FEE_BPS


def creator_share_bps(listing: Listing) -> int:
    """The creator's share of a sale of ``listing`` in basis points."""
    if listing.revenue_share_bps is None:
        return max_creator_share_bps()
    return min(listing.revenue_share_bps, max_creator_share_bps())


def validate_listing(listing: Listing) -> None:
    """The rules a listing must follow; raises a ``DomainError`` naming the field."""
    for field, most in UPPER_BOUNDS.items():
        value = getattr(listing, field)
        if value is not None and not 0 <= value <= most:
            raise _invalid(field, f"Give a number from 0 to {most}.")
    model = listing.pricing_model
    if model in (Listing.PricingModel.FREE, Listing.PricingModel.TRIAL):
        if listing.price_amount:
            raise _invalid("price_amount", f"A {model} listing has no price.")
    elif listing.price_amount <= 0:
        raise _invalid("price_amount", "A paid or subscription listing needs a price above 0.")
    if len(listing.currency) != 3 or not listing.currency.isalpha():
        raise _invalid("currency", "Use a three-letter ISO currency code.")
    listing.currency = listing.currency.upper()
    if model == Listing.PricingModel.SUBSCRIPTION:
        if listing.billing_interval not in (Listing.Interval.MONTH, Listing.Interval.YEAR):
            raise _invalid("billing_interval", "A subscription bills monthly or yearly.")
    else:
        listing.billing_interval = Listing.Interval.NONE
    if model == Listing.PricingModel.TRIAL:
        if bool(listing.trial_days) == bool(listing.trial_runs):
            raise _invalid("trial_days", "A trial lasts either N days or N runs (set one).")
    else:
        listing.trial_days = listing.trial_runs = None
    if listing.kind == Listing.Kind.EXECUTE_ONLY:
        if not listing.run_quota and not (
            model == Listing.PricingModel.TRIAL and listing.trial_runs
        ):
            raise _invalid("run_quota", "An execute-only listing needs a run quota.")
    elif listing.trial_runs:
        raise _invalid("trial_runs", "Trials by runs are for execute-only listings.")
    if listing.max_activations < 1:
        raise _invalid("max_activations", "At least one activation.")
    if listing.kind not in (Listing.Kind.SEAT, Listing.Kind.ORG):
        listing.seats = None
    elif listing.seats is not None and listing.seats < 1:
        raise _invalid("seats", "A seat or org license has at least one seat.")
    if not listing.license_template.strip():
        raise _invalid("license_template", "The license text buyers agree to is required.")
    if listing.revenue_share_bps is not None and not (
        0 <= listing.revenue_share_bps <= max_creator_share_bps()
    ):
        raise _invalid(
            "revenue_share_bps",
            f"The creator's share is at most {max_creator_share_bps()} basis points "
            f"(the platform fee is {settings.PLATFORM_FEE_BPS}).",
        )


def _require_seller(package: Package, user: User, listing: Listing) -> None:
    if package.owner_id != user.pk:
        raise ForbiddenError(
            "Only the package's owner manages its listings.", code="not_package_owner"
        )
    creator = require_creator(user)
    if listing.is_active and not listing.is_free and not creator.can_sell:
        raise DomainError(
            "Paid listings need a connected Stripe account that can take charges.",
            code="payouts_not_ready",
            status_code=409,
        )


def _snapshot(listing: Listing) -> dict[str, Any]:
    return {field: getattr(listing, field) for field in EDITABLE if field != "license_template"}


@transaction.atomic
def create_listing(package: Package, user: User, **fields: Any) -> Listing:
    listing = Listing(package=package, **{k: v for k, v in fields.items() if k in EDITABLE})
    validate_listing(listing)
    _require_seller(package, user, listing)
    listing.save()
    record("marketplace.listing.created", actor=user, target=listing, after=_snapshot(listing))
    return listing


@transaction.atomic
def update_listing(listing: Listing, user: User, **fields: Any) -> Listing:
    """Change a listing; licenses already issued keep the terms they were sold with."""
    listing = Listing.objects.select_for_update().select_related("package").get(pk=listing.pk)
    before = _snapshot(listing)
    for name, value in fields.items():
        if name in EDITABLE:
            setattr(listing, name, value)
    validate_listing(listing)
    _require_seller(listing.package, user, listing)
    listing.save()
    record(
        "marketplace.listing.updated",
        actor=user,
        target=listing,
        before=before,
        after=_snapshot(listing),
    )
    return listing


@transaction.atomic
def deactivate_listing(listing: Listing, user: User) -> Listing:
    """Stop selling a listing (it is never deleted: orders and licenses point at it)."""
    if listing.package.owner_id != user.pk:
        raise ForbiddenError(
            "Only the package's owner manages its listings.", code="not_package_owner"
        )
    if listing.is_active:
        listing.is_active = False
        listing.save(update_fields=["is_active", "updated_at"])  # the catalog re-indexes on save
        record("marketplace.listing.deactivated", actor=user, target=listing)
    return listing


def seller_currency(user: User) -> str:
    """The currency ``user`` sells in: their newest paid listing's, else a new listing's default.
    Their console shows sums they have none of yet (0 earned) in it, not in a fixed currency."""
    currency = (
        Listing.objects.filter(package__owner_id=user.pk, price_amount__gt=0)
        .order_by("-is_active", "-id")
        .values_list("currency", flat=True)
        .first()
    )
    return currency or str(Listing._meta.get_field("currency").get_default())
