"""Pro as a Stripe subscription, and the account plan it drives.

``subscribe`` starts one (with a saved card: a subscription whose first invoice is paid at once,
or whose PaymentIntent's client secret the browser confirms; without one: a Stripe Checkout page).
The account's plan changes only in ``apply_subscription``, from the subscription's current state
as re-read from Stripe, so webhooks may arrive late, twice or out of order:

* ``active`` / ``trialing``: the Pro plan (and this cycle's credits topped up to Pro's);
* ``past_due`` (a renewal failed): Pro is kept until ``grace_until`` (``BILLING_GRACE_DAYS``),
  then ``end_lapsed_grace_periods`` cancels the subscription and the account is on Free;
* ``canceled`` / ``unpaid`` / ``incomplete_expired``: back to Free;
* ``incomplete``: nothing yet (the first payment is not through).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from djstripe import models as djstripe_models

from billing.models import AccountPlan
from billing.services import credits, plans
from billing.stripe import products
from billing.stripe.client import (
    api_key,
    as_dict,
    object_id,
    provider_errors,
)
from billing.stripe.customers import customer_for, user_for_customer
from billing.stripe.objects import fresh_setup_intent, fresh_subscription
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError, NotFoundError

logger = logging.getLogger(__name__)

IN_FORCE = ("active", "trialing", "past_due")
ENDED = ("canceled", "unpaid", "incomplete_expired")
Status = AccountPlan.Status
Source = AccountPlan.Source


def _timestamp(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _items(data: dict) -> list[dict]:
    items = data.get("items")
    if not isinstance(items, dict):
        return []
    return items.get("data") or []


def price_of(data: dict) -> str | None:
    for item in _items(data):
        price = object_id(item.get("price")) or object_id(item.get("plan"))
        if price:
            return price
    return object_id(data.get("plan"))


def period_of(data: dict) -> tuple[datetime | None, datetime | None]:
    """The current period (on the subscription in older API versions, on its items in newer)."""
    start, end = data.get("current_period_start"), data.get("current_period_end")
    if not (start and end):
        for item in _items(data):
            start = start or item.get("current_period_start")
            end = end or item.get("current_period_end")
    return _timestamp(start), _timestamp(end)


def subscription_in_force(user) -> dict | None:
    """The user's newest subscription that still counts (active, trialing, past due), as
    dj-stripe last synced it."""
    rows = djstripe_models.Subscription.objects.filter(customer__subscriber=user).order_by(
        "-created", "-djstripe_id"
    )
    for row in rows.only("stripe_data"):
        # Only billing's own (a marketplace license's subscription is not a plan).
        if (row.stripe_data.get("metadata") or {}).get("kind", "subscription") != "subscription":
            continue
        if row.stripe_data.get("status") in IN_FORCE:
            return dict(row.stripe_data)
    return None


def _lock_plan(user) -> AccountPlan:
    row = plans.account_plan(user)
    return AccountPlan.objects.select_for_update().get(pk=row.pk)


def _client_secret(invoice: dict, key: str) -> str | None:
    """The secret the browser confirms the first payment with (3-D Secure, new cards)."""
    secret = (invoice.get("confirmation_secret") or {}).get("client_secret")
    if secret:
        return secret
    intent = invoice.get("payment_intent")
    if isinstance(intent, dict):
        return intent.get("client_secret")
    if intent:
        with provider_errors():
            return stripe.PaymentIntent.retrieve(intent, api_key=key).client_secret
    return None


def _return_url(outcome: str) -> str:
    return f"{settings.SITE_URL}/?billing={outcome}"


def subscribe(user, *, payment_method: str | None = None) -> dict:
    """Start a Pro subscription for ``user``; the plan follows when Stripe says it is paid.

    With ``payment_method`` (a ``pm_...`` collected by Stripe.js) the card becomes the
    customer's default and the subscription's first invoice is charged now; the answer carries
    the subscription's status and, if the bank wants the buyer to authenticate, the client
    secret to confirm. Without one the answer is a Stripe Checkout URL. 409
    ``already_subscribed`` when a subscription is in force; 503 without Stripe.
    """
    key = api_key()
    price = products.pro_price_id()
    metadata = {"kind": "subscription", "user_id": str(user.pk), "plan": products.PRO_PLAN}
    with transaction.atomic():
        _lock_plan(user)  # one subscribe at a time per account
        if subscription_in_force(user) is not None:
            raise ConflictError("You already have a subscription.", code="already_subscribed")
        customer = customer_for(user)
        if not payment_method:
            with provider_errors():
                session = stripe.checkout.Session.create(
                    mode="subscription",
                    customer=customer.id,
                    line_items=[{"price": price, "quantity": 1}],
                    client_reference_id=str(user.pk),
                    metadata=metadata,
                    subscription_data={"metadata": metadata},
                    success_url=_return_url("subscribed"),
                    cancel_url=_return_url("cancelled"),
                    api_key=key,
                )
            return {"status": "checkout", "checkout_url": session.url, "session": session.id}
        with provider_errors(payment_method=payment_method):
            stripe.PaymentMethod.attach(payment_method, customer=customer.id, api_key=key)
            stripe.Customer.modify(
                customer.id,
                invoice_settings={"default_payment_method": payment_method},
                api_key=key,
            )
            created = stripe.Subscription.create(
                customer=customer.id,
                items=[{"price": price}],
                metadata=metadata,
                payment_behavior="allow_incomplete",
                expand=["latest_invoice"],
                api_key=key,
            )
            djstripe_models.Subscription.sync_from_stripe_data(created, api_key=key)
        data = as_dict(created)
        record(
            "billing.subscription.started",
            actor=user,
            target=plans.account_plan(user),
            after={"subscription": data["id"], "status": data["status"], "price": price},
        )
    latest_invoice = data.get("latest_invoice")
    invoice = latest_invoice if isinstance(latest_invoice, dict) else {}
    needs_action = data["status"] == "incomplete"
    return {
        "status": data["status"],
        "subscription": data["id"],
        "client_secret": _client_secret(invoice, key) if needs_action else None,
    }


def start_card_setup(user) -> dict:
    """A SetupIntent that takes ``user``'s card in the browser (Stripe.js ``confirmCardSetup``)
    for ``subscribe_with_card``: the account page's way to collect the card for Pro.
    409 ``already_subscribed`` when a subscription is in force; 503 without Stripe."""
    key = api_key()
    if subscription_in_force(user) is not None:
        raise ConflictError("You already have a subscription.", code="already_subscribed")
    customer = customer_for(user)
    with provider_errors():
        intent = stripe.SetupIntent.create(
            customer=customer.id,
            payment_method_types=["card"],
            usage="off_session",
            metadata={"kind": "subscription_card", "user_id": str(user.pk)},
            api_key=key,
        )
    return {"setup_intent": intent.id, "client_secret": intent.client_secret}


def subscribe_with_card(user, setup_intent_id: str) -> dict:
    """``subscribe`` with the card the browser confirmed on ``start_card_setup``'s SetupIntent
    (re-read from Stripe: it must be ``user``'s and have succeeded, else 400
    ``card_not_confirmed``)."""
    if not setup_intent_id.startswith("seti_"):
        raise DomainError("Give your card first.", code="card_not_confirmed")
    intent = fresh_setup_intent(setup_intent_id)
    mine = (intent.get("metadata") or {}).get("user_id") == str(user.pk)
    method = object_id(intent.get("payment_method"))
    if not mine or intent.get("status") != "succeeded" or not method:
        raise DomainError("The card was not confirmed; give it again.", code="card_not_confirmed")
    return subscribe(user, payment_method=method)


def cancel(user, *, at_period_end: bool = True, actor=None) -> dict:
    """Cancel the user's subscription: at the end of the paid period (default) or now.

    The plan follows the subscription's new state at once (Pro until the period ends, or Free).
    404 ``no_subscription`` when there is none in force.
    """
    key = api_key()
    current = subscription_in_force(user)
    if current is None:
        raise NotFoundError("You have no subscription.", code="no_subscription")
    with provider_errors():
        if at_period_end:
            changed = stripe.Subscription.modify(
                current["id"], cancel_at_period_end=True, api_key=key
            )
        else:
            changed = stripe.Subscription.cancel(current["id"], api_key=key)
        djstripe_models.Subscription.sync_from_stripe_data(changed, api_key=key)
    data = as_dict(changed)
    record(
        "billing.subscription.cancelled",
        actor=actor or user,
        target=plans.account_plan(user),
        after={
            "subscription": data["id"],
            "status": data["status"],
            "at_period_end": at_period_end,
        },
    )
    apply_subscription(data)
    _, period_end = period_of(data)
    return {
        "status": data["status"],
        "subscription": data["id"],
        "cancel_at_period_end": bool(data.get("cancel_at_period_end")),
        "current_period_end": period_end,
    }


def apply_subscription(data: dict) -> AccountPlan | None:
    """Make the account's plan match the subscription ``data`` (re-read from Stripe).

    Idempotent (the same state twice changes nothing and audits nothing) and safe against stale
    events: a subscription that is not the account's current one cannot downgrade it, and a
    plan staff set by hand (other than Free or the subscribed tier) is left alone. Returns the
    plan row, or ``None`` when the subscription is not one of ours.
    """
    user = user_for_customer(object_id(data.get("customer")), data.get("metadata"))
    plan_code = products.plan_for_price(price_of(data)) or (data.get("metadata") or {}).get("plan")
    if user is None or plan_code not in plans.tiers().by_code:
        logger.info("Ignoring subscription %s: not an account's plan", data.get("id"))
        return None
    default = plans.tiers().default
    status = data.get("status")
    start, end = period_of(data)
    with transaction.atomic():
        row = _lock_plan(user)
        ours = row.external_id == data["id"]
        if row.source == Source.MANUAL and row.plan not in (default, plan_code):
            logger.info("Plan of %s was set by staff; subscription %s ignored", user, data["id"])
            return row
        if status in ("active", "trialing"):
            target = {"plan": plan_code, "status": status, "grace_until": None}
        elif status == "past_due":
            if ours and row.status == Status.CANCELED:
                return row  # its grace period already ran out
            grace = row.grace_until if ours and row.status == Status.PAST_DUE else None
            grace = grace or timezone.now() + timedelta(days=settings.BILLING_GRACE_DAYS)
            target = {"plan": plan_code, "status": Status.PAST_DUE, "grace_until": grace}
        elif status in ENDED:
            if row.external_id and not ours:
                return row  # an older subscription ended; the current one decides
            target = {"plan": default, "status": Status.CANCELED, "grace_until": None}
        else:  # incomplete: the first payment is not through yet
            return row
        unchanged = (
            ours
            and row.source == Source.STRIPE
            and all(getattr(row, field) == value for field, value in target.items())
            and (row.current_period_end == end or end is None)
        )
        if not unchanged:
            row = plans.change_plan(
                user,
                target["plan"],
                status=target["status"],
                source=Source.STRIPE,
                external_id=data["id"],
                current_period_start=start,
                current_period_end=end,
                grace_until=target["grace_until"],
            )
        if target["status"] in ("active", "trialing"):
            credits.grant_plan_difference(credits.get_account(user))
    return row


def refresh(subscription_id: str) -> AccountPlan | None:
    """Re-read a subscription from Stripe and apply it (what every subscription webhook does)."""
    return apply_subscription(fresh_subscription(subscription_id))


def end_lapsed_grace_periods(now: datetime | None = None) -> int:
    """Put accounts whose grace period ran out on Free, cancelling their Stripe subscription.

    Idempotent; if Stripe cannot be reached the account is downgraded all the same (the
    subscription is cancelled on a later run or by Stripe's own dunning). Returns how many
    accounts were downgraded.
    """
    now = now or timezone.now()
    lapsed = AccountPlan.objects.filter(status=Status.PAST_DUE, grace_until__lte=now)
    count = 0
    for row in lapsed.select_related("user").order_by("pk"):
        if row.source == Source.STRIPE and row.external_id:
            try:
                key = api_key()
                with provider_errors():
                    ended = stripe.Subscription.cancel(row.external_id, api_key=key)
                    djstripe_models.Subscription.sync_from_stripe_data(ended, api_key=key)
            except Exception:
                logger.warning("Could not cancel subscription %s at Stripe", row.external_id)
        with transaction.atomic():
            fresh = AccountPlan.objects.select_for_update().get(pk=row.pk)
            if fresh.status != Status.PAST_DUE or not fresh.grace_until or fresh.grace_until > now:
                continue
            plans.change_plan(
                row.user,
                plans.tiers().default,
                status=Status.CANCELED,
                source=fresh.source,
                external_id=fresh.external_id,
            )
            record(
                "billing.subscription.lapsed",
                target=fresh,
                after={"subscription": fresh.external_id, "grace_until": fresh.grace_until},
            )
        count += 1
    return count
