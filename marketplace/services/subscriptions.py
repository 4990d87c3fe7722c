"""Subscription SKUs: renewals extend a license, a lapsed subscription lets it expire.

The order pays the first period; a Stripe subscription (``marketplace.payments``) bills the next
ones. What Stripe reports lands here, re-read and idempotent:

* ``renew_license``: an invoice paid the next period → a renewal order (its money is the
  creator's sale), ``paid_until`` and ``expires_at`` moved to the period's end; once per invoice.
* ``take_back_renewal``: a renewal refunded in full (or charged back) no longer pays its
  period: the license falls back to the end of the period paid before it (and, through
  ``marketplace.payments``, its subscription is cancelled: the buyer asked for the money back).
* ``apply_subscription_status``: ``past_due`` (a renewal payment failed) keeps the license for
  ``BILLING_GRACE_DAYS`` past the paid period, as billing keeps Pro; ``canceled`` / ``unpaid`` /
  ``incomplete_expired`` and ``ending`` (cancelled at the period end) end it at the paid
  period's end; ``active`` / ``trialing`` change nothing (an invoice extends it).

The beat task ``expire_licenses`` then marks the license ``expired``; verification answers
``EXPIRED`` from ``expires_at`` at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.services import earnings
from fmugateway.core.audit import record
from licensing.models import License
from marketplace.models import LicenseRenewal, Order, OrderLine

ENDED = ("canceled", "unpaid", "incomplete_expired")
# Our name for an active subscription cancelled at its period end (Stripe keeps it "active").
ENDING = "ending"


def _snapshot(license: License) -> dict[str, Any]:
    return {
        "status": license.status,
        "expires_at": license.expires_at,
        "paid_until": license.paid_until,
        "subscription": license.subscription_id,
        "subscription_status": license.subscription_status,
    }


@transaction.atomic
def attach_subscription(license: License, subscription_id: str, status: str) -> License:
    """Remember the Stripe subscription that renews ``license`` (once; audited)."""
    license = License.objects.select_for_update().get(pk=license.pk)
    if license.subscription_id:
        return license
    before = _snapshot(license)
    license.subscription_id = subscription_id
    license.subscription_status = status
    license.paid_until = license.paid_until or license.expires_at
    license.save(
        update_fields=["subscription_id", "subscription_status", "paid_until", "updated_at"]
    )
    record(
        "marketplace.license.subscription_started",
        target=license,
        before=before,
        after=_snapshot(license),
    )
    return license


@transaction.atomic
def renew_license(
    license: License,
    *,
    invoice_id: str,
    amount: int,
    currency: str,
    period_end: datetime,
    payment_reference: str = "",
) -> LicenseRenewal:
    """An invoice of the license's subscription paid the period ending ``period_end``.

    Guarantees: once per invoice (a second call returns the first renewal); a paid renewal order
    of one line records the money and the creator's sale (same fee split as the first order);
    ``paid_until`` and ``expires_at`` move to ``period_end`` (never back); an expired license
    is active again (a late payment inside Stripe's retries), a revoked or suspended one stays so.
    """
    license = License.objects.select_for_update().get(pk=license.pk)
    existing = LicenseRenewal.objects.filter(invoice_id=invoice_id).first()
    if existing is not None:
        return existing
    assert license.order_line_id is not None  # a subscription license comes from an order line
    first = OrderLine.objects.select_related("listing").get(pk=license.order_line_id)
    now = timezone.now()
    order = Order.objects.create(
        number=Order.new_number(),
        buyer_id=license.owner_id,
        status=Order.Status.PAID,
        currency=currency.upper(),
        subtotal_amount=amount,
        total_amount=amount,
        payment_reference=payment_reference,
        paid_at=now,
        status_reason=f"renewal of license {license.pk}",
    )
    line = OrderLine.objects.create(
        order=order,
        listing=first.listing,
        package_id=first.package_id,
        description=f"{first.description} (renewal)"[:255],
        kind=first.kind,
        pricing_model=first.pricing_model,
        currency=currency.upper(),
        unit_amount=amount,
        amount=amount,
        platform_fee_bps=first.platform_fee_bps,
    )
    earnings.record_sale(line)
    renewal = LicenseRenewal.objects.create(
        license=license,
        order=order,
        invoice_id=invoice_id,
        period_end=period_end,
        paid_from=license.paid_until,
    )
    before = _snapshot(license)
    license.paid_until = max(filter(None, (license.paid_until, period_end)))
    license.expires_at = max(filter(None, (license.expires_at, license.paid_until)))
    license.subscription_status = "active"
    fields = ["paid_until", "expires_at", "subscription_status", "updated_at"]
    if license.status == License.Status.EXPIRED:
        license.status = License.Status.ACTIVE
        license.status_reason = "renewed"
        fields += ["status", "status_reason"]
    license.save(update_fields=fields)
    record(
        "marketplace.order.paid",
        target=order,
        after={"status": order.status, "total_amount": amount, "invoice": invoice_id},
    )
    record(
        "marketplace.license.renewed",
        target=license,
        before=before,
        after={**_snapshot(license), "invoice": invoice_id, "order": order.pk},
    )
    return renewal


@transaction.atomic
def apply_subscription_status(
    license: License, status: str, *, actor: User | None = None
) -> License:
    """Follow the subscription's state (re-read from Stripe); audited when it changes."""
    license = License.objects.select_for_update().get(pk=license.pk)
    paid_until = license.paid_until or license.expires_at
    expires_at = license.expires_at
    if status == "past_due" and paid_until is not None:
        # Grace counts from the end of the paid period, once (repeated events move nothing).
        assert expires_at is not None  # a subscription license has a term
        expires_at = max(expires_at, paid_until + timedelta(days=settings.BILLING_GRACE_DAYS))
    elif (status in ENDED or status == ENDING) and paid_until is not None:
        expires_at = paid_until
    if status == license.subscription_status and expires_at == license.expires_at:
        return license
    before = _snapshot(license)
    license.subscription_status = status
    license.expires_at = expires_at
    license.save(update_fields=["subscription_status", "expires_at", "updated_at"])
    action = {"past_due": "renewal_failed", ENDING: "renewal_stopped"}.get(status)
    action = action or ("subscription_ended" if status in ENDED else "subscription_updated")
    record(
        f"marketplace.license.{action}",
        actor=actor,
        target=license,
        before=before,
        after=_snapshot(license),
    )
    return license


@transaction.atomic
def extend_after_pause(license: License, period_end: datetime) -> License:
    """Billing resumed after a suspension: the license runs to ``period_end``, the end of the
    current period that the pause left unbilled (never moved back; audited when it moves)."""
    license = License.objects.select_for_update().get(pk=license.pk)
    if license.status != License.Status.ACTIVE or (
        license.expires_at is not None and license.expires_at >= period_end
    ):
        return license
    before = _snapshot(license)
    license.expires_at = period_end
    license.save(update_fields=["expires_at", "updated_at"])
    record(
        "marketplace.license.billing_resumed",
        target=license,
        before=before,
        after=_snapshot(license),
    )
    return license


@transaction.atomic
def take_back_renewal(renewal: LicenseRenewal, *, actor: User | None = None) -> License:
    """The renewal's order was refunded in full: the license is paid only up to what the other
    renewals (not refunded) and the first order paid, and expires there. Idempotent."""
    license = License.objects.select_for_update().get(pk=renewal.license_id)
    if renewal.paid_from is None:  # recorded before paid_from existed: leave it to a moderator
        return license
    still_paid = [
        other.period_end
        for other in license.renewals.exclude(pk=renewal.pk).exclude(
            order__status=Order.Status.REFUNDED
        )
    ]
    paid_until = max([renewal.paid_from, *still_paid])
    if license.paid_until is not None and license.paid_until <= paid_until:
        return license
    before = _snapshot(license)
    license.paid_until = paid_until
    license.expires_at = min(filter(None, (license.expires_at, paid_until)))
    license.save(update_fields=["paid_until", "expires_at", "updated_at"])
    record(
        "marketplace.license.renewal_taken_back",
        actor=actor,
        target=license,
        before=before,
        after={**_snapshot(license), "invoice": renewal.invoice_id, "order": renewal.order_id},
    )
    return license
