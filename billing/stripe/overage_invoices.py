"""Overage charges sent to Stripe as invoice items, exactly once each.

An account with a subscription in force gets the item on that subscription, so it is billed
with the next renewal; any other account gets an invoice at once that collects it. Sending is
claimed per charge with ``SELECT ... FOR UPDATE SKIP LOCKED`` (a concurrent run skips it) and
the item carries the charge's id in its metadata and as the idempotency key, so a run that
crashed after Stripe created the item finds it again instead of billing twice.
"""

from __future__ import annotations

import logging

import stripe
from django.db import transaction
from django.utils import timezone

from billing.models import OverageCharge
from billing.stripe.client import api_key, as_dict, provider_errors
from billing.stripe.customers import customer_for
from billing.stripe.objects import fresh_invoice
from billing.stripe.plan_subscriptions import subscription_in_force
from fmugateway.core.audit import record

logger = logging.getLogger(__name__)
KIND = "overage"


def _existing_item(customer_id: str, charge: OverageCharge, key: str) -> dict | None:
    with provider_errors():
        items = stripe.InvoiceItem.list(customer=customer_id, limit=100, api_key=key)
    for item in items.auto_paging_iter():
        data = as_dict(item)
        if (data.get("metadata") or {}).get("overage_charge") == str(charge.pk):
            return data
    return None


def send(charge_id: int) -> OverageCharge | None:
    """Create ``charge_id``'s invoice item at Stripe unless it exists; mark it invoiced.

    Returns the charge once invoiced, or ``None`` when another run holds it or it was sent
    already. Stripe errors propagate (the charge stays pending for the next run).
    """
    key = api_key()
    with transaction.atomic():
        charge = (
            OverageCharge.objects.select_for_update(skip_locked=True)
            .select_related("account__user")
            .filter(pk=charge_id, status=OverageCharge.Status.PENDING)
            .first()
        )
        if charge is None:
            return None
        user = charge.account.user
        customer = customer_for(user)
        item = _existing_item(customer.id, charge, key)
        subscription = subscription_in_force(user)
        if item is None:
            params = {
                "customer": customer.id,
                "amount": charge.amount,
                "currency": charge.currency,
                "description": (
                    f"Overage {charge.cycle}: {charge.credits} credits at "
                    f"{charge.rate} USD per credit"
                ),
                "metadata": {
                    "kind": KIND,
                    "overage_charge": str(charge.pk),
                    "cycle": charge.cycle,
                    "user_id": str(user.pk),
                },
            }
            if subscription is not None:
                params["subscription"] = subscription["id"]
            with provider_errors():
                item = as_dict(
                    stripe.InvoiceItem.create(
                        api_key=key, idempotency_key=f"fmugw-overage-{charge.pk}", **params
                    )
                )
        invoice_id = item.get("invoice") or ""
        if subscription is None and not invoice_id:
            with provider_errors():
                invoice = stripe.Invoice.create(
                    customer=customer.id,
                    auto_advance=True,
                    pending_invoice_items_behavior="include",
                    description=f"FMU Gateway overage {charge.cycle}",
                    metadata={"kind": KIND, "overage_charge": str(charge.pk)},
                    api_key=key,
                    idempotency_key=f"fmugw-overage-invoice-{charge.pk}",
                )
            invoice_id = invoice.id
            fresh_invoice(invoice_id)  # the account page lists it at once
        charge.status = OverageCharge.Status.INVOICED
        charge.stripe_invoice_item = item["id"]
        charge.stripe_invoice = invoice_id or ""
        charge.invoiced_at = timezone.now()
        charge.save(
            update_fields=["status", "stripe_invoice_item", "stripe_invoice", "invoiced_at"]
        )
        record(
            "billing.overage.invoiced",
            target=charge,
            after={
                "invoice_item": charge.stripe_invoice_item,
                "invoice": charge.stripe_invoice,
                "subscription": subscription["id"] if subscription else None,
                "amount": charge.amount,
            },
        )
    return charge
