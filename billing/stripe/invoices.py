"""The account's Stripe invoices (subscription renewals, overage), as dj-stripe synced them."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import QuerySet
from djstripe import models as djstripe_models

from billing.stripe.client import object_id


def _when(value) -> str | None:
    return datetime.fromtimestamp(int(value), tz=UTC).isoformat() if value else None


def invoice_summary(data: dict) -> dict:
    parent = (data.get("parent") or {}).get("subscription_details") or {}
    subscription = object_id(data.get("subscription")) or object_id(parent.get("subscription"))
    return {
        "id": data.get("id"),
        "number": data.get("number"),
        "status": data.get("status"),
        "currency": data.get("currency"),
        "total": data.get("total"),
        "amount_due": data.get("amount_due"),
        "amount_paid": data.get("amount_paid"),
        "created": _when(data.get("created") or data.get("date")),
        "period_start": _when(data.get("period_start")),
        "period_end": _when(data.get("period_end")),
        "subscription": subscription,
        "hosted_invoice_url": data.get("hosted_invoice_url"),
        "invoice_pdf": data.get("invoice_pdf"),
    }


def invoices_for(user) -> QuerySet:
    """``user``'s invoice rows, newest first (no call to Stripe; webhooks keep them current)."""
    return (
        djstripe_models.Invoice.objects.filter(customer__subscriber=user)
        .order_by("-created", "-djstripe_id")
        .only("stripe_data")
    )


def invoices_of(user, limit: int = 100) -> list[dict]:
    """``user``'s newest invoices, summarised."""
    return [invoice_summary(row.stripe_data) for row in invoices_for(user)[:limit]]
