"""A payout end to end: a card payment at the local Stripe server, its signed webhook, beat's
batch, the admin's approval, the transfer made by a real Celery worker, the creator's console."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from billing.models import PayoutItem
from billing.stripe.connect import start_connect_onboarding, sync_connect_account
from billing.tasks import schedule_payouts
from billing.tests.stripe_fixtures import wait_for
from marketplace.factories import CreatorFactory, ListingFactory
from marketplace.models import Order
from marketplace.tests.fixtures import client_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_sale_is_paid_out_to_the_creator_through_connect(
    settings, stripe_live, celery_worker_process, user, moderator, client
):
    settings.CREATOR_EARNINGS_HOLD_DAYS = 0
    # Given a creator onboarded at Stripe Connect, and a buyer who pays 49.00 EUR by card
    creator = CreatorFactory(
        stripe_account_id="", charges_enabled=False, payouts_enabled=False, details_submitted=False
    )
    account = start_connect_onboarding(creator.user)["account"]
    sync_connect_account(stripe_live.complete_onboarding(account))
    listing = ListingFactory(package__owner=creator.user, price_amount=4900)
    buyer = client_for(user)
    assert buyer.post("/api/v1/cart/items", {"listing": listing.pk}).status_code == 201
    order = Order.objects.get(pk=buyer.post("/api/v1/checkout").json()["id"])
    stripe_live.pay(buyer.post(f"/api/v1/orders/{order.pk}/pay").json()["payment_intent"])
    wait_for(lambda: Order.objects.get(pk=order.pk).status == "paid", what="the payment")

    # When beat makes the batch and a moderator approves it in the admin
    batch_id = schedule_payouts()
    moderator.is_staff = True
    moderator.save()
    moderator.user_permissions.add(*Permission.objects.filter(codename__endswith="payoutbatch"))
    client.force_login(moderator)
    response = client.post(
        reverse("admin:billing_payoutbatch_changelist"),
        {"action": "approve", "_selected_action": [batch_id]},
    )
    assert response.status_code == 302

    # Then the worker transfers the creator's 85 % to their connected account
    item = wait_for(
        lambda: PayoutItem.objects.filter(batch_id=batch_id, status="paid").first(),
        timeout=60,
        what="the worker's transfer",
    )
    [transfer] = stripe_live.call("GET", f"/v1/transfers?destination={account}")["data"]
    assert (transfer["id"], transfer["amount"]) == (item.stripe_transfer_id, 4165)

    # And the creator's console shows it paid
    console = client_for(creator.user)
    console.force_login(creator.user)
    page = console.get(reverse("console-payouts")).content.decode()
    assert item.stripe_transfer_id in page and "Paid" in page
