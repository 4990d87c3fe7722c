"""Refunds an administrator starts: made at Stripe (the local Stripe-compatible server), then
applied through the ``charge.refunded`` path, so the webhook arriving later changes nothing."""

from __future__ import annotations

import pytest
from django.db.models import Sum
from django.urls import reverse
from djstripe.models import Event

from billing.models import CreatorEarning
from billing.stripe.client import object_id
from billing.stripe.objects import fresh_charge, fresh_payment_intent
from billing.tests.stripe_fixtures import wait_for
from fmugateway.core.errors import ConflictError, NotFoundError
from fmugateway.core.models import AuditEntry
from licensing.models import License
from marketplace import payments, services
from marketplace.models import Order, OrderLine, Refund
from marketplace.tests.fixtures import buy


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("refunds-admin@example.com", "pw")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _paid_at_stripe(testbed, user, *listings) -> Order:
    """Checkout, pay the PaymentIntent with a card at the server, apply it as the webhook does."""
    for listing in listings:
        services.add_to_cart(user, listing.pk)
    order = services.checkout(user).order
    intent = payments.start_payment(order, user)["payment_intent"]
    testbed.pay(intent)
    payments.pay_order(fresh_payment_intent(intent))
    order.refresh_from_db()
    assert order.status == "paid"
    return order


def _net(**filters) -> int:
    return CreatorEarning.objects.filter(**filters).aggregate(s=Sum("net_amount"))["s"] or 0


def _license_status(order: Order, listing) -> str:
    return License.objects.get(order=order, listing=listing).status


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_admin_refund_is_made_at_stripe_and_the_webhook_changes_nothing_more(
    stripe_live, user, admin_client, download_listing, execute_listing
):
    # Given an order of two SKUs paid at Stripe (its webhook delivered)
    for listing in (download_listing, execute_listing):
        services.add_to_cart(user, listing.pk)
    order = services.checkout(user).order
    intent = payments.start_payment(order, user)["payment_intent"]
    stripe_live.pay(intent)
    wait_for(lambda: Order.objects.get(pk=order.pk).status == "paid", what="the payment")

    # When an administrator refunds it in full from the order list
    response = admin_client.post(
        reverse("admin:marketplace_order_changelist"),
        {"action": "refund_in_full", "_selected_action": [order.pk]},
    )

    # Then the money went back at Stripe and the order followed at once
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("refunded", 6800)
    refund = Refund.objects.get(order=order)
    at_stripe = stripe_live.call("GET", f"/v1/refunds/{refund.reference}")
    assert (at_stripe["amount"], at_stripe["payment_intent"]) == (6800, intent)
    assert refund.actor is not None and refund.actor.is_superuser
    assert set(License.objects.filter(order=order).values_list("status", flat=True)) == {"revoked"}
    assert _net(order_line__order=order) == 0

    # And charge.refunded, delivered by Stripe and replayed ten times, changes nothing more
    def refund_events():
        return [
            event.id
            for event in Event.objects.filter(type="charge.refunded")
            if (event.data.get("object") or {}).get("payment_intent") == intent
        ]

    event_id = wait_for(refund_events, what="the charge.refunded webhook")[0]
    audit = AuditEntry.objects.count()
    stripe_live.replay(event_id, times=10)
    assert Refund.objects.filter(order=order).count() == 1
    assert CreatorEarning.objects.filter(order_line__order=order, kind="refund").count() == 2
    assert AuditEntry.objects.count() == audit
    assert Order.objects.get(pk=order.pk).refunded_amount == 6800


@pytest.mark.slow
@pytest.mark.django_db
def test_admin_refund_of_one_line_revokes_only_its_license_and_reverses_only_its_earnings(
    stripe_testbed, user, seller, admin_client, download_listing, execute_listing
):
    # Given a paid order: a download (49.00) and 100 runs (19.00)
    order = _paid_at_stripe(stripe_testbed, user, download_listing, execute_listing)
    runs_line = OrderLine.objects.get(order=order, listing=execute_listing)
    download_line = OrderLine.objects.get(order=order, listing=download_listing)
    download_net = _net(order_line=download_line)

    # When an administrator refunds only the runs line
    response = admin_client.post(
        reverse("admin:marketplace_orderline_changelist"),
        {"action": "refund_lines", "_selected_action": [runs_line.pk]},
    )

    # Then Stripe refunded that line's price; only its license is revoked, its earnings reversed
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("partially_refunded", 1900)
    refund = Refund.objects.get(order=order)
    assert refund.allocation == {str(runs_line.pk): 1900}
    assert stripe_testbed.call("GET", f"/v1/refunds/{refund.reference}")["amount"] == 1900
    runs = License.objects.get(order_line=runs_line)
    assert (runs.status, runs.runs_remaining) == ("revoked", 0)
    assert _license_status(order, download_listing) == "active"
    assert _net(order_line=runs_line) == 0
    assert _net(order_line=download_line) == download_net > 0

    # And the charge.refunded path, run ten times more (late webhooks), changes nothing
    charge = fresh_charge(object_id(fresh_payment_intent(order.payment_reference)["latest_charge"]))
    for _ in range(10):
        payments.refund_from_charge(charge, fresh_payment_intent(order.payment_reference))
    assert Refund.objects.filter(order=order).count() == 1
    assert _license_status(order, download_listing) == "active"
    assert Order.objects.get(pk=order.pk).refunded_amount == 1900

    # When the rest is refunded, the order is refunded and the other license revoked
    payments.refund_payment(order, actor=None)
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("refunded", 6800)
    assert _license_status(order, download_listing) == "revoked"
    assert _net(order_line__order=order) == 0


@pytest.mark.django_db
def test_admin_refund_of_a_free_order_revokes_without_stripe(user, admin_user, free_listing):
    # Given a free order and no Stripe configured at all
    order = buy(user, free_listing).order

    # When an administrator refunds it
    refund = payments.refund_payment(order, actor=admin_user)

    # Then nothing was paid back and its license is revoked, audited
    order.refresh_from_db()
    assert (order.status, refund.amount) == ("refunded", 0)
    assert License.objects.get(order=order).status == "revoked"
    assert AuditEntry.objects.filter(action="marketplace.order.refunded", actor=admin_user).exists()

    # And refunding it again is refused with a stable code
    with pytest.raises(ConflictError) as refused:
        payments.refund_payment(order, actor=admin_user)
    assert refused.value.code == "order_not_refundable"


@pytest.mark.django_db
def test_admin_refund_without_stripe_changes_nothing(
    user, admin_client, download_listing, settings
):
    # Given a paid order, and Stripe not configured on this server
    settings.STRIPE_SECRET_KEY = ""
    order = buy(user, download_listing).order

    # When an administrator tries to refund it
    response = admin_client.post(
        reverse("admin:marketplace_order_changelist"),
        {"action": "refund_in_full", "_selected_action": [order.pk]},
        follow=True,
    )

    # Then they are told why, and the order and its license are unchanged
    assert "Stripe is not configured" in response.content.decode()
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("paid", 0)
    assert License.objects.get(order=order).status == "active"
    assert not Refund.objects.filter(order=order).exists()


@pytest.mark.django_db
def test_refund_of_a_line_of_another_order_is_refused(
    user, other_user, admin_user, download_listing
):
    mine = buy(user, download_listing).order
    theirs = buy(other_user, download_listing).order

    with pytest.raises(NotFoundError) as refused:
        payments.refund_payment(mine, lines=[theirs.lines.get().pk], actor=admin_user)

    assert refused.value.code == "order_line_not_found"
    assert Order.objects.get(pk=theirs.pk).status == "paid"
