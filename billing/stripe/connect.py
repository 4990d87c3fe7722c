"""Stripe Connect for creators: Express onboarding, account state, transfer reversals.

The account's state reaches its creator through ``account.updated``; a payout's transfer reversed
at Stripe credits the creator back through ``transfer.reversed``/``transfer.updated``.
"""

from __future__ import annotations

import stripe
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from djstripe.models import Event

from accounts.models import Creator
from billing.models import PayoutItem
from billing.services import payouts
from billing.stripe.client import (
    api_key,
    as_dict,
    provider_errors,
)
from billing.stripe.objects import (
    stored,
)
from billing.stripe.receivers import connect_handlers, event_object, handler
from fmugateway.core.audit import record
from fmugateway.core.errors import ForbiddenError, NotFoundError


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
            # Back to the console's payouts page, which offers a new link when this one expired.
            refresh_url=f"{settings.SITE_URL}{reverse('console-payouts')}?connect=refresh",
            return_url=f"{settings.SITE_URL}{reverse('console-payouts')}?connect=done",
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


@handler
def on_account_updated(event: Event) -> None:
    """A creator's Connect account changed: copy its state (dj-stripe re-read it)."""
    from djstripe.models import Account

    account_id = event_object(event).get("id")
    data = stored(Account, account_id)
    if not data:
        with provider_errors():
            data = as_dict(stripe.Account.retrieve(account_id, api_key=api_key()))
    sync_connect_account(data)


@handler
def on_transfer_changed(event: Event) -> None:
    """A payout's Connect transfer was (partly) reversed by the platform, in the Dashboard or
    through the API: re-read the transfer and credit what came back to the creator."""
    transfer_id = event_object(event).get("id")
    if not transfer_id or not PayoutItem.objects.filter(stripe_transfer_id=transfer_id).exists():
        return
    with provider_errors():
        transfer = as_dict(stripe.Transfer.retrieve(transfer_id, api_key=api_key()))
    payouts.apply_transfer_reversal(transfer)


HANDLERS = {
    "account.updated": on_account_updated,
    "transfer.reversed": on_transfer_changed,
    "transfer.updated": on_transfer_changed,
}


def connect() -> None:
    """Hook the handlers on dj-stripe's signals, after dj-stripe's own (which sync the object)."""
    connect_handlers(HANDLERS, "marketplace")  # the dispatch uids they had before the split
