"""Subscription SKUs end to end against the local Stripe-compatible server and its webhooks:
the order pays the first period, a Stripe subscription renews the license, a cancelled or
unpaid one lets it lapse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum
from djstripe.models import Event

from billing.models import CreatorEarning
from billing.tests.stripe_fixtures import stripe_event, wait_for
from fmugateway.core.models import AuditEntry
from licensing.models import License
from licensing.services.licenses import (
    claim_key,
    expire_licenses,
    reinstate_license,
    suspend_license,
    verify_license,
)
from marketplace import payments, services
from marketplace.factories import CouponFactory, ListingFactory
from marketplace.models import LicenseRenewal, Order
from marketplace.tasks import expire_licenses as expire_licenses_task

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def monthly(package):
    return ListingFactory(
        package=package,
        name="Monthly",
        pricing_model="subscription",
        billing_interval="month",
        price_amount=990,
    )


def _fresh(license: License) -> License:
    return License.objects.get(pk=license.pk)


def _subscribed(testbed, user, listing) -> License:
    """Buy the SKU and pay the order with a card; the payment webhook starts the subscription."""
    services.add_to_cart(user, listing.pk)
    order = services.checkout(user).order
    intent = payments.start_payment(order, user)["payment_intent"]
    testbed.pay(intent)
    license = wait_for(
        lambda: License.objects.filter(order=order).exclude(subscription_id="").first(),
        what="the license's subscription",
    )
    return license


def _verify(key: str) -> str:
    return verify_license(key, "ball", "machine-1", activate=True)["payload"]["code"]


def _events(event_type: str, subscription: str) -> list[str]:
    found = []
    for event in Event.objects.filter(type=event_type).order_by("created", "djstripe_id"):
        obj = event.data.get("object") or {}
        parent = (obj.get("parent") or {}).get("subscription_details") or {}
        if subscription in (obj.get("subscription"), parent.get("subscription"), obj.get("id")):
            found.append(event.id)
    return found


def test_a_renewal_extends_the_license_once_per_invoice(stripe_live, user, seller, monthly):
    # Given a monthly SKU bought and paid: its license runs one month, then Stripe renews it
    license = _subscribed(stripe_live, user, monthly)
    first_end = license.expires_at
    assert license.paid_until == first_end
    subscription = stripe_live.call("GET", f"/v1/subscriptions/{license.subscription_id}")
    assert (subscription["status"], subscription["trial_end"]) == (
        "trialing",
        int(first_end.timestamp()),
    )
    assert subscription["metadata"]["license_id"] == str(license.pk)
    key = claim_key(license, user).key

    # When Stripe bills the next period and the card pays it
    invoice = stripe_live.renew(license.subscription_id)

    # Then the license runs to the end of the period that invoice paid
    wait_for(lambda: LicenseRenewal.objects.filter(license=license).exists(), what="the renewal")
    period_end = max(line["period"]["end"] for line in invoice["lines"]["data"])
    renewed = _fresh(license)
    assert renewed.expires_at == renewed.paid_until == datetime.fromtimestamp(period_end, tz=UTC)
    assert renewed.expires_at > first_end + timedelta(days=27)
    # And the renewal's money is a paid order and the creator's sale
    renewal = LicenseRenewal.objects.get(license=license)
    assert (renewal.invoice_id, renewal.order.status) == (invoice["id"], "paid")
    assert (renewal.order.total_amount, renewal.order.buyer_id) == (990, user.pk)
    sale = CreatorEarning.objects.get(order_line__order=renewal.order)
    assert (sale.kind, sale.creator_id, sale.gross_amount) == ("sale", seller.pk, 990)
    assert AuditEntry.objects.filter(action="marketplace.license.renewed").count() == 1
    assert _verify(key) == "VALID"

    # And the invoice's webhook delivered ten more times renews nothing more
    event_id = wait_for(lambda: _events("invoice.payment_succeeded", license.subscription_id))
    audit = AuditEntry.objects.count()
    stripe_live.replay(event_id[-1], times=10)
    assert LicenseRenewal.objects.filter(license=license).count() == 1
    assert _fresh(license).expires_at == renewed.expires_at
    assert Order.objects.filter(buyer=user).count() == 2
    assert AuditEntry.objects.count() == audit


def test_a_cancelled_subscription_lets_the_license_lapse_at_the_period_end(
    stripe_live, user, monthly
):
    # Given a subscribed license, renewed once
    license = _subscribed(stripe_live, user, monthly)
    stripe_live.renew(license.subscription_id)
    wait_for(lambda: LicenseRenewal.objects.filter(license=license).exists(), what="the renewal")
    paid_until = _fresh(license).paid_until
    key = claim_key(license, user).key

    # When the subscription is cancelled at Stripe
    stripe_live.call("DELETE", f"/v1/subscriptions/{license.subscription_id}")

    # Then the license keeps the period it paid for, and no more
    wait_for(lambda: _fresh(license).subscription_status == "canceled", what="the cancellation")
    lapsed = _fresh(license)
    assert (lapsed.status, lapsed.expires_at) == ("active", paid_until)
    assert _verify(key) == "VALID"
    assert AuditEntry.objects.filter(action="marketplace.license.subscription_ended").exists()

    # When that period is over, the sweep expires it and verification says EXPIRED
    assert expire_licenses(now=paid_until + timedelta(seconds=1)) == [license.pk]
    assert _fresh(license).status == "expired"
    assert _verify(key) == "EXPIRED"


def test_a_failed_renewal_keeps_the_license_for_the_grace_period_then_it_expires(
    stripe_live, user, monthly, settings
):
    # Given a subscribed license
    settings.BILLING_GRACE_DAYS = 7
    license = _subscribed(stripe_live, user, monthly)
    paid_until = license.paid_until
    key = claim_key(license, user).key

    # When the renewal is charged to a card that is now declined
    stripe_live.renew(license.subscription_id, payment_method=stripe_live.card("4000000000000341"))

    # Then the license is kept for the grace period past its paid period, like a Pro plan
    wait_for(lambda: _fresh(license).subscription_status == "past_due", what="past due")
    grace = _fresh(license)
    assert grace.expires_at == paid_until + timedelta(days=7)
    assert grace.paid_until == paid_until and grace.status == "active"
    assert not LicenseRenewal.objects.filter(license=license).exists()
    assert _verify(key) == "VALID"
    for event_id in _events("invoice.payment_failed", license.subscription_id):
        stripe_live.replay(event_id, times=10)
    assert _fresh(license).expires_at == grace.expires_at
    assert AuditEntry.objects.filter(action="marketplace.license.renewal_failed").count() == 1

    # When the grace period has run out (time-shifted) and the beat task runs
    stripe_live.settle()  # a later event of the failed renewal must not undo the time shift
    License.objects.filter(pk=license.pk).update(expires_at=paid_until.replace(year=2000))
    assert expire_licenses_task() == 1

    # Then the license is expired, saying why, and its subscription is cancelled at Stripe
    expired = _fresh(license)
    assert expired.status == "expired"
    assert expired.status_reason == "renewal not paid within the grace period"
    assert _verify(key) == "EXPIRED"
    at_stripe = stripe_live.call("GET", f"/v1/subscriptions/{license.subscription_id}")
    assert at_stripe["status"] == "canceled"


def test_refunding_a_subscription_order_stops_its_renewals(stripe_live, user, seller, monthly):
    # Given a subscribed license
    license = _subscribed(stripe_live, user, monthly)

    # When an administrator refunds its order
    payments.refund_payment(license.order, actor=None)

    # Then the license is revoked and Stripe will bill nothing more
    revoked = _fresh(license)
    assert (revoked.status, revoked.subscription_status) == ("revoked", "canceled")
    at_stripe = stripe_live.call("GET", f"/v1/subscriptions/{license.subscription_id}")
    assert at_stripe["status"] == "canceled"
    sales = CreatorEarning.objects.filter(creator=seller).aggregate(s=Sum("net_amount"))["s"]
    assert sales == 0


def test_another_users_subscription_license_is_not_theirs(stripe_live, user, other_user, monthly):
    from marketplace.tests.fixtures import client_for

    license = _subscribed(stripe_live, user, monthly)

    response = client_for(other_user).get(f"/api/v1/licenses/{license.pk}")

    assert response.status_code == 404


def test_the_owner_stops_renewals_and_the_license_lapses_at_the_paid_period_end(
    stripe_live, user, other_user, monthly
):
    from marketplace.tests.fixtures import client_for

    # Given a subscribed license that renews
    license = _subscribed(stripe_live, user, monthly)
    mine = client_for(user)
    assert mine.get(f"/api/v1/licenses/{license.pk}").json()["renews"] is True

    # When another user tries to stop it, it is not theirs to see
    url = f"/api/v1/licenses/{license.pk}/stop-renewing"
    assert client_for(other_user).post(url).status_code == 404

    # When its owner stops the renewals
    response = mine.post(url)

    # Then Stripe ends the subscription at the period end and the license lapses then
    assert response.status_code == 200, response.json()
    assert response.json()["renews"] is False
    assert response.json()["expires_at"] == response.json()["paid_until"]
    at_stripe = stripe_live.call("GET", f"/v1/subscriptions/{license.subscription_id}")
    assert at_stripe["cancel_at_period_end"] is True
    entry = AuditEntry.objects.get(action="marketplace.license.renewal_stopped")
    assert entry.actor_id == user.pk

    # And asking again is refused with a stable code
    again = mine.post(url)
    assert (again.status_code, again.json()["code"]) == (409, "not_renewing")


def test_a_refunded_renewal_gives_back_its_order_and_earnings(stripe_live, user, seller, monthly):
    # Given a license renewed once
    license = _subscribed(stripe_live, user, monthly)
    stripe_live.renew(license.subscription_id)
    renewal = wait_for(
        lambda: LicenseRenewal.objects.filter(license=license).first(), what="the renewal"
    )

    # When the renewal's payment is refunded at Stripe
    stripe_live.refund(renewal.order.payment_reference)

    # Then its renewal order is refunded and the creator's sale reversed
    wait_for(lambda: Order.objects.get(pk=renewal.order_id).status == "refunded", what="the refund")
    net = CreatorEarning.objects.filter(order_line__order=renewal.order_id).aggregate(
        s=Sum("net_amount")
    )["s"]
    assert net == 0
    assert Order.objects.get(pk=license.order_id).status == "paid"


def test_a_suspended_subscription_license_is_not_billed_until_reinstated(
    stripe_live, user, seller, monthly
):
    # Given a monthly license whose subscription renews it
    license = _subscribed(stripe_live, user, monthly)
    first_end = license.expires_at
    charges_before = len(stripe_live.call("GET", "/v1/charges?limit=100")["data"])

    # When a moderator suspends it (a takedown), billing is paused at Stripe
    suspend_license(license, reason="package taken down")
    assert payments.sync_subscription_pause(license.pk) == "paused"
    subscription = stripe_live.call("GET", f"/v1/subscriptions/{license.subscription_id}")
    assert subscription["pause_collection"]["behavior"] == "void"

    # Then a period that passes meanwhile is voided: nothing charged, nothing renewed
    invoice = stripe_live.renew(license.subscription_id)
    assert invoice["status"] == "void"
    stripe_live.settle()
    assert len(stripe_live.call("GET", "/v1/charges?limit=100")["data"]) == charges_before
    assert not LicenseRenewal.objects.filter(license=license).exists()
    assert _verify(claim_key(license, user).key) == "SUSPENDED"

    # When it is reinstated, billing resumes and the license runs to the unbilled period's end
    reinstate_license(license, reason="restored")
    assert payments.sync_subscription_pause(license.pk) == "resumed"
    assert payments.sync_subscription_pause(license.pk) == "resumed"  # a repeat moves nothing
    subscription = stripe_live.call("GET", f"/v1/subscriptions/{license.subscription_id}")
    assert subscription["pause_collection"] is None
    reinstated = _fresh(license)
    assert reinstated.expires_at == datetime.fromtimestamp(
        subscription["current_period_end"], tz=UTC
    )
    assert reinstated.expires_at > first_end + timedelta(days=27)
    assert AuditEntry.objects.filter(action="marketplace.license.billing_resumed").count() == 1

    # And the next period is billed and renews it as usual
    paid = stripe_live.renew(license.subscription_id)
    assert paid["status"] == "paid"
    wait_for(lambda: LicenseRenewal.objects.filter(license=license).exists(), what="the renewal")


def test_a_refunded_renewal_no_longer_pays_its_period_and_ends_the_subscription(
    stripe_live, user, seller, monthly
):
    # Given a license renewed once by its subscription
    license = _subscribed(stripe_live, user, monthly)
    first_end = license.expires_at
    stripe_live.renew(license.subscription_id)
    renewal = wait_for(
        lambda: LicenseRenewal.objects.filter(license=license).first(), what="the renewal"
    )
    assert renewal.paid_from == first_end
    key = claim_key(license, user).key

    # When the renewal's payment is refunded in full at Stripe
    stripe_live.refund(renewal.order.payment_reference)

    # Then the license is paid, and runs, only up to the first period's end; no more renewals
    wait_for(lambda: _fresh(license).subscription_status == "canceled", what="the cancellation")
    taken_back = _fresh(license)
    assert taken_back.paid_until == taken_back.expires_at == first_end
    assert taken_back.status == "active" and _verify(key) == "VALID"  # the first period is paid
    renewal.order.refresh_from_db()
    assert renewal.order.status == "refunded"
    at_stripe = stripe_live.call("GET", f"/v1/subscriptions/{license.subscription_id}")
    assert at_stripe["status"] == "canceled"
    # And the creator's sale of that renewal is reversed; the first sale stands
    earned = CreatorEarning.objects.filter(creator=seller).aggregate(s=Sum("net_amount"))["s"]
    first_sale = CreatorEarning.objects.get(order_line__order=license.order, kind="sale")
    assert earned == first_sale.net_amount
    assert AuditEntry.objects.filter(action="marketplace.license.renewal_taken_back").count() == 1


def _free_first_period(user, listing) -> Order:
    """Buy the SKU with a coupon that pays its whole first period."""
    services.add_to_cart(user, listing.pk)
    services.apply_coupon(user, CouponFactory.create(percent_off=100).code)
    result = services.checkout(user)
    return result.order


def test_a_subscription_whose_first_period_a_coupon_pays_keeps_a_card_and_renews(
    stripe_live, user, monthly
):
    # Given a monthly SKU bought with a 100 % coupon: nothing to pay now
    order = _free_first_period(user, monthly)
    assert (order.status, order.total_amount) == ("pending", 0)
    assert not License.objects.filter(order=order).exists()

    # When the buyer gives the card that pays the renewals (a SetupIntent, no charge)
    answer = payments.start_payment(order, user)
    assert "payment_intent" not in answer and answer["amount"] == 0
    again = payments.start_payment(Order.objects.get(pk=order.pk), user)
    assert again["setup_intent"] == answer["setup_intent"]
    stripe_live.save_card(answer["setup_intent"])

    # Then the order is paid with nothing charged, and a subscription renews its license
    license = wait_for(
        lambda: License.objects.filter(order=order).exclude(subscription_id="").first(),
        what="the license's subscription",
    )
    paid = Order.objects.get(pk=order.pk)
    assert (paid.status, paid.payment_reference) == ("paid", answer["setup_intent"])
    setup = stripe_live.call("GET", f"/v1/setup_intents/{answer['setup_intent']}")
    charges = stripe_live.call("GET", f"/v1/charges?customer={setup['customer']}&limit=100")
    assert not [c for c in charges["data"] if c["customer"] == setup["customer"]]
    subscription = stripe_live.call("GET", f"/v1/subscriptions/{license.subscription_id}")
    assert subscription["trial_end"] == int(license.expires_at.timestamp())
    assert subscription["default_payment_method"] == setup["payment_method"]

    # When the period ends, the saved card pays the full price of the next one
    invoice = stripe_live.renew(license.subscription_id)
    assert invoice["amount_paid"] == 990
    wait_for(lambda: LicenseRenewal.objects.filter(license=license).exists(), what="the renewal")
    assert _fresh(license).expires_at > license.expires_at + timedelta(days=27)

    # And the card's webhook delivered ten more times starts nothing more
    event_id = wait_for(lambda: _events("setup_intent.succeeded", answer["setup_intent"]))
    stripe_live.replay(event_id[-1], times=10)
    assert License.objects.filter(order=order).count() == 1
    assert _fresh(license).subscription_id == license.subscription_id


def test_a_card_for_renewals_given_on_stripes_hosted_page(stripe_live, user, monthly):
    # Given a monthly SKU whose first period a coupon paid, the card page opened first
    order = _free_first_period(user, monthly)
    card_page = payments.start_payment(order, user)["setup_intent"]

    # When the buyer gives the card on Stripe's hosted page instead (setup mode)
    session = payments.start_checkout(order, user)
    completed = stripe_live.complete_checkout(session["session"])
    assert (completed["mode"], completed["payment_status"]) == ("setup", "no_payment_required")
    stripe_live.mute()
    assert stripe_live.deliver(stripe_event("checkout.session.completed", completed)).ok

    # Then the order is paid by that card, and the card page's SetupIntent is cancelled
    license = wait_for(
        lambda: License.objects.filter(order=order).exclude(subscription_id="").first(),
        what="the license's subscription",
    )
    assert Order.objects.get(pk=order.pk).payment_reference == completed["setup_intent"]
    assert stripe_live.call("GET", f"/v1/setup_intents/{card_page}")["status"] == "canceled"
    subscription = stripe_live.call("GET", f"/v1/subscriptions/{license.subscription_id}")
    assert subscription["default_payment_method"]


def test_refunding_an_order_whose_first_period_a_coupon_paid_stops_its_renewals(
    stripe_live, user, monthly, admin_user
):
    # Given a subscription started on a saved card, its first period paid by a coupon
    order = _free_first_period(user, monthly)
    stripe_live.save_card(payments.start_payment(order, user)["setup_intent"])
    license = wait_for(
        lambda: License.objects.filter(order=order).exclude(subscription_id="").first(),
        what="the license's subscription",
    )

    # When an administrator refunds the order (nothing was paid: its license is revoked)
    payments.refund_payment(Order.objects.get(pk=order.pk), actor=admin_user)

    # Then the saved card is never charged for it: the subscription is cancelled at Stripe
    assert _fresh(license).status == "revoked"
    subscription = stripe_live.call("GET", f"/v1/subscriptions/{license.subscription_id}")
    assert subscription["status"] == "canceled"
