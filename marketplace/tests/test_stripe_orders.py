"""Paying for orders and onboarding creators through Stripe, end to end.

Against the local Stripe-compatible server with its real signed webhooks, and Stripe-shaped
events signed with the endpoint secret for what it lacks (Checkout, Connect, disputes).
"""

from __future__ import annotations

import pytest
from djstripe.models import Event

from accounts.models import Creator
from billing.tests.stripe_fixtures import stripe_event, wait_for
from fmugateway.core.signing import verify_document
from licensing.models import License
from marketplace import services
from marketplace.factories import CouponFactory, CreatorFactory
from marketplace.models import Order, Refund

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VERIFY = "/api/v1/licenses/verify"


def _checkout(buyer_client, listing, coupon=None) -> Order:
    assert buyer_client.post("/api/v1/cart/items", {"listing": listing.pk}).status_code == 201
    if coupon is not None:
        response = buyer_client.post("/api/v1/cart/coupon", {"code": coupon.code})
        assert response.status_code == 200, response.json()
    response = buyer_client.post("/api/v1/checkout")
    assert response.status_code == 201, response.json()
    return Order.objects.get(pk=response.json()["id"])


def _status(order: Order) -> str:
    return Order.objects.get(pk=order.pk).status


def _verify(api_client, key: str, **extra) -> dict:
    """The signed answer's payload (the platform's signature holds)."""
    response = api_client.post(
        VERIFY, {"key": key, "package": "ball", "fingerprint": "machine-1", **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return verify_document(response.json())


def _events(event_type: str, intent: str) -> list[str]:
    found = []
    for event in Event.objects.filter(type=event_type).order_by("created", "djstripe_id"):
        obj = event.data.get("object") or {}
        if intent in (obj.get("id"), obj.get("payment_intent")):
            found.append(event.id)
    return found


def test_paid_execute_only_sku_with_a_coupon_from_payment_to_refund(
    stripe_live, user, buyer_client, api_client, execute_listing
):
    # Given a paid execute-only SKU (100 runs, 19.00 EUR) and a 20 % coupon
    coupon = CouponFactory(percent_off=20)
    order = _checkout(buyer_client, execute_listing, coupon)
    assert (order.status, order.total_amount) == ("pending", 1520)

    # When the buyer asks to pay, and pays the PaymentIntent with a card
    response = buyer_client.post(f"/api/v1/orders/{order.pk}/pay")
    assert response.status_code == 201, response.json()
    intent = response.json()["payment_intent"]
    assert (response.json()["amount"], response.json()["currency"]) == (1520, "EUR")
    again = buyer_client.post(f"/api/v1/orders/{order.pk}/pay").json()
    assert again["payment_intent"] == intent  # one PaymentIntent per order
    stripe_live.pay(intent)

    # Then the signed webhook pays the order and issues exactly one license with 100 runs
    wait_for(lambda: _status(order) == "paid", what="the order to be paid")
    licenses = License.objects.filter(order=order)
    assert licenses.count() == 1
    license = licenses.get()
    assert (license.kind, license.runs_remaining) == ("execute_only", 100)
    assert Order.objects.get(pk=order.pk).payment_reference == intent

    # And the same webhook delivered ten more times issues nothing more
    stripe_live.replay(_events("payment_intent.succeeded", intent)[0], times=10)
    assert License.objects.filter(order=order).count() == 1

    # And the buyer's key verifies
    key = buyer_client.post(f"/api/v1/licenses/{license.pk}/key").json()["key"]
    assert _verify(api_client, key, activate=True)["code"] == "VALID"

    # When the payment is refunded at Stripe
    stripe_live.refund(intent)

    # Then charge.refunded refunds the order and revokes the license; verification says REVOKED
    wait_for(lambda: _status(order) == "refunded", what="the refund")
    license.refresh_from_db()
    assert (license.status, license.runs_remaining) == ("revoked", 0)
    refund = Refund.objects.get(order=order)
    assert refund.amount == 1520 and refund.reference.startswith("re_")
    for event_id in _events("charge.refunded", intent):
        stripe_live.replay(event_id, times=10)
    assert Refund.objects.filter(order=order).count() == 1
    answer = _verify(api_client, key)
    assert (answer["code"], answer["valid"]) == ("REVOKED", False)


def test_a_refund_overtaking_the_payment_event_still_refunds_the_order(
    stripe_live, user, buyer_client, execute_listing
):
    # Given an order paid and fully refunded at Stripe, whose events are not delivered yet
    order = _checkout(buyer_client, execute_listing)
    stripe_live.mute()
    intent = buyer_client.post(f"/api/v1/orders/{order.pk}/pay").json()["payment_intent"]
    stripe_live.pay(intent)
    stripe_live.refund(intent)

    # When the refund's event is delivered first (signed like Stripe does)
    refunded = wait_for(
        lambda: [
            event
            for event in stripe_live.events("charge.refunded")
            if event["data"]["object"]["payment_intent"] == intent
        ],
        what="the refund event",
    )[0]
    assert stripe_live.deliver(refunded).status_code == 200

    # Then the order was paid (the re-read PaymentIntent succeeded) and refunded
    wait_for(lambda: _status(order) == "refunded", what="the refund")
    assert License.objects.get(order=order).status == "revoked"

    # And the late payment_intent.succeeded changes nothing
    succeeded = next(
        event
        for event in stripe_live.events("payment_intent.succeeded")
        if event["data"]["object"]["id"] == intent
    )
    for _ in range(3):
        assert stripe_live.deliver(succeeded).status_code == 200
    assert _status(order) == "refunded"
    assert License.objects.filter(order=order).count() == 1
    assert Refund.objects.filter(order=order).count() == 1


def test_stripe_checkout_completed_pays_the_order_once(
    stripe_live, user, buyer_client, download_listing
):
    # Given a pending order sent to Stripe Checkout
    order = _checkout(buyer_client, download_listing)
    response = buyer_client.post(f"/api/v1/orders/{order.pk}/pay", {"checkout": True})
    assert response.status_code == 201, response.json()
    # (the local server's hosted Checkout page stands in for Stripe's)
    assert response.json()["checkout_url"].startswith(f"{stripe_live.base_url}/checkout/pay/cs_")

    # When the buyer pays on the hosted page and Stripe sends checkout.session.completed
    session = stripe_live.complete_checkout(response.json()["session"])
    event = stripe_event("checkout.session.completed", session)
    for _ in range(10):
        assert stripe_live.deliver(event).status_code == 200

    # Then the order is paid with the session's PaymentIntent, its license issued once
    wait_for(lambda: _status(order) == "paid", what="the order to be paid")
    assert Order.objects.get(pk=order.pk).payment_reference == session["payment_intent"]
    assert License.objects.filter(order=order).count() == 1


def test_stripe_checkout_after_the_card_page_pays_the_order_and_cancels_the_card_payment(
    stripe_live, user, buyer_client, download_listing
):
    # Given a pending order whose card page was opened (it started a PaymentIntent), the buyer
    # then choosing Stripe's hosted page instead (the path without JavaScript)
    order = _checkout(buyer_client, download_listing)
    card_intent = buyer_client.post(f"/api/v1/orders/{order.pk}/pay").json()["payment_intent"]
    response = buyer_client.post(f"/api/v1/orders/{order.pk}/pay", {"checkout": True})
    assert response.status_code == 201, response.json()

    # When the buyer pays on the hosted page
    session = stripe_live.complete_checkout(response.json()["session"])
    completed = stripe_event("checkout.session.completed", session)
    assert stripe_live.deliver(completed).status_code == 200

    # Then the order is paid by the hosted page's payment, which is kept (not refunded)
    wait_for(lambda: _status(order) == "paid", what="the order to be paid")
    assert Order.objects.get(pk=order.pk).payment_reference == session["payment_intent"]
    assert License.objects.filter(order=order).count() == 1
    assert not Refund.objects.filter(order=order).exists()
    assert not stripe_live.call("GET", f"/v1/refunds?payment_intent={session['payment_intent']}")[
        "data"
    ]
    # And the card page's PaymentIntent can no longer take the buyer's money twice
    card = stripe_live.call("GET", f"/v1/payment_intents/{card_intent}")
    assert card["status"] == "canceled"


def test_a_lost_dispute_is_a_chargeback_that_revokes_the_license(
    stripe_live, user, buyer_client, execute_listing
):
    # Given a paid order
    order = _checkout(buyer_client, execute_listing)
    intent = buyer_client.post(f"/api/v1/orders/{order.pk}/pay").json()["payment_intent"]
    paid = stripe_live.pay(intent)
    wait_for(lambda: _status(order) == "paid", what="the order to be paid")
    charge = paid["latest_charge"]["id"]

    # When the card holder disputes the charge: opened, then lost
    dispute = stripe_live.open_dispute(charge)
    assert stripe_live.deliver(stripe_event("charge.dispute.created", dispute)).status_code == 200
    assert _status(order) == "paid"
    closed = stripe_live.close_dispute(dispute["id"], "lost")
    event = stripe_event("charge.dispute.closed", closed)
    for _ in range(10):
        assert stripe_live.deliver(event).status_code == 200

    # Then the order is charged back once and its license revoked
    assert _status(order) == "refunded"
    chargeback = Refund.objects.get(order=order)
    assert (chargeback.kind, chargeback.reference) == ("chargeback", dispute["id"])
    assert License.objects.get(order=order).status == "revoked"


def test_creator_connect_onboarding_and_account_updates(stripe_live, user):
    from rest_framework.test import APIClient

    # Given an approved creator without a Connect account
    creator = CreatorFactory(
        user=user,
        stripe_account_id="",
        charges_enabled=False,
        payouts_enabled=False,
        details_submitted=False,
    )
    client = APIClient()
    client.force_authenticate(user)

    # When they ask for an onboarding link (twice)
    first = client.post("/api/v1/creators/me/connect")
    second = client.post("/api/v1/creators/me/connect")

    # Then one Express account is made and each answer carries a link to it
    assert first.status_code == 201, first.json()
    account = first.json()["account"]
    assert account.startswith("acct_") and second.json()["account"] == account
    assert first.json()["url"].endswith(f"/connect/onboarding/{account}")
    creator.refresh_from_db()
    assert creator.stripe_account_id == account and not creator.can_sell

    # When they finish onboarding and Stripe sends account.updated (ten times)
    data = stripe_live.complete_onboarding(account)
    event = stripe_event("account.updated", data, account=account)
    for _ in range(10):
        assert stripe_live.deliver(event).status_code == 200

    # Then the creator may take charges and be paid out
    creator.refresh_from_db()
    assert (creator.charges_enabled, creator.payouts_enabled, creator.details_submitted) == (
        True,
        True,
        True,
    )
    assert creator.can_sell
    assert Creator.objects.filter(stripe_account_id=account).count() == 1


def test_paying_needs_stripe(user, buyer_client, execute_listing, settings):
    # Given a pending paid order on a server whose Stripe keys were then removed
    services.add_to_cart(user, execute_listing.pk)
    order = services.checkout(user).order
    settings.STRIPE_SECRET_KEY = ""

    # When the buyer asks to pay, and a creator asks for onboarding
    response = buyer_client.post(f"/api/v1/orders/{order.pk}/pay")

    # Then payments are unavailable, and the order is untouched
    assert response.status_code == 503
    assert response.json()["code"] == "payments_unavailable"
    assert _status(order) == "pending"
