"""Creator payouts: hold → available → batch → approval → Stripe Connect transfer → paid.

Transfers go to the local Stripe-compatible server (``stripe_testbed``); creators are onboarded
there through the same service and account state the Connect webhook uses.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from billing.models import CreatorEarning, PayoutBatch, PayoutItem
from billing.services import earnings, payouts
from billing.services.payouts import (
    approve_payout_batch,
    cancel_payout_batch,
    create_payout_batch,
    execute_payout_batch,
    pay_item,
)
from billing.stripe.connect import start_connect_onboarding, sync_connect_account
from fmugateway.core.errors import ConflictError, ForbiddenError
from fmugateway.core.models import AuditEntry
from marketplace import services
from marketplace.factories import CreatorFactory, ListingFactory
from marketplace.tests.fixtures import buy, client_for

pytestmark = pytest.mark.django_db

PRICE, NET = 4900, 4165  # 15 % platform fee


class Rollback(Exception):
    pass


@pytest.fixture(autouse=True)
def _no_hold(settings):
    settings.CREATOR_EARNINGS_HOLD_DAYS = 0


def onboard(testbed, *, complete: bool = True):
    """A creator whose Express account exists at the server (onboarded unless told not)."""
    creator = CreatorFactory.create(
        stripe_account_id="", charges_enabled=False, payouts_enabled=False, details_submitted=False
    )
    account = start_connect_onboarding(creator.user)["account"]
    if complete:
        sync_connect_account(testbed.complete_onboarding(account))
    creator.refresh_from_db()
    return creator


def sell(creator, buyer, price: int = PRICE):
    listing = ListingFactory(
        package__owner=creator.user, price_amount=price, name=f"Download {price}"
    )
    return buy(buyer, listing).order


def transfers_to(testbed, account: str) -> list[dict]:
    return testbed.call("GET", f"/v1/transfers?destination={account}")["data"]


def balance(creator, currency: str = "EUR") -> earnings.Balance:
    found = [b for b in earnings.balances(creator) if b.currency == currency]
    return found[0] if found else earnings.Balance(currency, 0, 0, 0, 0)


def test_a_sale_is_pending_for_the_hold_period_then_available(settings, user):
    settings.CREATOR_EARNINGS_HOLD_DAYS = 14
    creator = CreatorFactory()
    sell(creator, user)

    assert (balance(creator).pending, balance(creator).available) == (NET, 0)
    assert create_payout_batch() is None  # nothing available yet

    later = timezone.now() + timedelta(days=15)
    assert earnings.balances(creator, now=later)[0].available == NET
    batch = create_payout_batch(now=later)
    assert batch.items.get().amount == NET


def test_approved_batch_pays_each_creator_once_through_connect(
    stripe_testbed, user, moderator, django_capture_on_commit_callbacks
):
    # Given a connected creator with an available sale
    creator = onboard(stripe_testbed)
    sell(creator, user)

    # When beat makes a batch
    batch = create_payout_batch()

    # Then the money is in the payout, not available any more
    item = batch.items.get()
    assert (item.status, item.amount, item.destination) == (
        "scheduled",
        NET,
        creator.stripe_account_id,
    )
    assert (balance(creator).available, balance(creator).in_payout) == (0, NET)

    # When a moderator approves it, the transfer task is queued once
    with django_capture_on_commit_callbacks() as queued:
        approve_payout_batch(batch, moderator)
    assert len(queued) == 1
    counts = execute_payout_batch(batch.pk)

    # Then one transfer reached the creator's account and the item and batch are paid
    item.refresh_from_db()
    batch.refresh_from_db()
    assert (item.status, batch.status, counts["paid"]) == ("paid", "completed", 1)
    [transfer] = transfers_to(stripe_testbed, creator.stripe_account_id)
    assert (transfer["id"], transfer["amount"], transfer["currency"]) == (
        item.stripe_transfer_id,
        NET,
        "eur",
    )
    assert transfer["transfer_group"] == batch.reference
    assert balance(creator) == earnings.Balance("EUR", 0, 0, 0, NET)
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        "marketplace.payout_batch.created",
        "marketplace.payout_batch.approved",
        "marketplace.payout_item.paid",
        "marketplace.payout_batch.completed",
    } <= actions


def test_approving_twice_and_rerunning_the_task_transfer_once(
    stripe_testbed, user, moderator, django_capture_on_commit_callbacks
):
    creator = onboard(stripe_testbed)
    sell(creator, user)
    batch = create_payout_batch()
    approve_payout_batch(batch, moderator)

    with django_capture_on_commit_callbacks() as queued, pytest.raises(ConflictError) as second:
        approve_payout_batch(batch, moderator)
    assert second.value.code == "payout_batch_not_pending" and queued == []

    execute_payout_batch(batch.pk)
    execute_payout_batch(batch.pk)  # a retried task
    pay_item(batch.items.get().pk)  # a duplicated one

    assert len(transfers_to(stripe_testbed, creator.stripe_account_id)) == 1
    assert CreatorEarning.objects.filter(kind="payout").count() == 1


def test_a_retry_after_a_crash_before_commit_reuses_the_first_transfer(
    stripe_testbed, user, moderator
):
    # Given a transfer made at Stripe whose database update was lost (worker died pre-commit)
    creator = onboard(stripe_testbed)
    sell(creator, user)
    batch = create_payout_batch()
    approve_payout_batch(batch, moderator)
    item = batch.items.get()
    with pytest.raises(Rollback), transaction.atomic():
        first = pay_item(item.pk)
        raise Rollback
    item.refresh_from_db()
    assert item.status == "scheduled" and first.stripe_transfer_id

    # When the task runs again
    execute_payout_batch(batch.pk)

    # Then Stripe's idempotency key returns the first transfer: one transfer, item paid with it
    item.refresh_from_db()
    assert (item.status, item.stripe_transfer_id) == ("paid", first.stripe_transfer_id)
    assert len(transfers_to(stripe_testbed, creator.stripe_account_id)) == 1


def test_a_refused_transfer_fails_the_item_and_returns_the_money(stripe_testbed, user, moderator):
    # Given a creator whose account looks ready here but cannot receive transfers at Stripe
    creator = onboard(stripe_testbed, complete=False)
    type(creator).objects.filter(pk=creator.pk).update(payouts_enabled=True, details_submitted=True)
    sell(creator, user)
    batch = create_payout_batch()
    approve_payout_batch(batch, moderator)

    execute_payout_batch(batch.pk)

    item = batch.items.get()
    batch.refresh_from_db()
    assert (item.status, item.failure_code) == (
        "failed",
        "insufficient_capabilities_for_transfer",
    )
    assert batch.status == "completed"
    assert balance(creator) == earnings.Balance("EUR", 0, NET, 0, 0)
    assert transfers_to(stripe_testbed, creator.stripe_account_id) == []
    assert AuditEntry.objects.filter(action="marketplace.payout_item.failed").count() == 1

    # And the next batch offers the money again
    assert create_payout_batch().items.get().amount == NET


def test_creators_without_a_finished_connect_account_are_skipped_with_a_reason(
    stripe_testbed, user
):
    ready = onboard(stripe_testbed)
    unconnected = CreatorFactory(stripe_account_id="", payouts_enabled=False)
    halfway = onboard(stripe_testbed, complete=False)
    for creator in (ready, unconnected, halfway):
        sell(creator, user)

    batch = create_payout_batch()

    items = {item.creator_id: item for item in batch.items.all()}
    assert (items[ready.pk].status, items[ready.pk].skip_reason) == ("scheduled", "")
    assert (items[unconnected.pk].status, items[unconnected.pk].skip_reason) == (
        "skipped",
        "no_connect_account",
    )
    assert items[halfway.pk].skip_reason == "connect_onboarding_incomplete"
    # Skipped creators keep their money available for a later batch
    assert balance(unconnected).available == NET and balance(halfway).available == NET


def test_a_refund_after_a_payout_goes_negative_and_is_netted_from_the_next_one(
    stripe_testbed, user, other_user, moderator
):
    creator = onboard(stripe_testbed)
    first = sell(creator, user)
    batch = create_payout_batch()
    approve_payout_batch(batch, moderator)
    execute_payout_batch(batch.pk)

    # When the paid-out sale is refunded
    services.refund_order(first, reason="requested_by_customer")

    # Then the creator owes it back
    assert balance(creator).available == -NET
    assert create_payout_batch() is None

    # And the next payout nets it: two new sales, one sale's worth transferred
    sell(creator, other_user)
    sell(creator, user, price=PRICE + 100)
    second = create_payout_batch()
    approve_payout_batch(second, moderator)
    execute_payout_batch(second.pk)

    second_net = (PRICE + 100) - (PRICE + 100) * 1500 // 10000
    assert second.items.get().amount == second_net
    amounts = sorted(t["amount"] for t in transfers_to(stripe_testbed, creator.stripe_account_id))
    assert amounts == sorted([NET, second_net])
    assert balance(creator).available == 0


def test_balances_are_recomputable_from_the_ledger(stripe_testbed, user, other_user, moderator):
    creator = onboard(stripe_testbed)
    sell(creator, user)
    paid_batch = create_payout_batch()
    approve_payout_batch(paid_batch, moderator)
    execute_payout_batch(paid_batch.pk)
    refunded = sell(creator, other_user, price=2000)
    services.refund_order(refunded, 500, reason="goodwill")
    sell(creator, other_user, price=3000)
    create_payout_batch()  # scheduled, not approved

    b = balance(creator)
    earned = earnings.net_earnings(creator)["EUR"]
    assert b.pending + b.available + b.in_payout + b.paid == earned
    assert b.paid == NET and b.in_payout > 0 and b.available == 0


def test_cancelling_a_batch_returns_its_money(user, moderator):
    creator = CreatorFactory()
    sell(creator, user)
    batch = create_payout_batch()

    cancel_payout_batch(batch, moderator)

    assert batch.items.get().status == "cancelled"
    assert balance(creator).available == NET
    with pytest.raises(ConflictError):
        approve_payout_batch(batch, moderator)


def test_only_moderators_approve_or_cancel(user):
    creator = CreatorFactory()
    sell(creator, user)
    batch = create_payout_batch()

    for verb in (approve_payout_batch, cancel_payout_batch):
        with pytest.raises(ForbiddenError):
            verb(batch, creator.user)
    assert PayoutBatch.objects.get(pk=batch.pk).status == "pending_approval"


def test_beat_makes_one_batch_per_interval(settings, user):
    settings.PAYOUT_INTERVAL_DAYS = 7
    creator = CreatorFactory()
    sell(creator, user)

    first = payouts.schedule_payouts()
    sell(creator, user, price=1000)

    assert first is not None
    assert payouts.schedule_payouts() is None  # within the interval
    later = payouts.schedule_payouts(now=timezone.now() + timedelta(days=8))
    assert later.items.get().amount == 1000 - 150


def test_admin_approves_a_batch_with_its_action(
    client, moderator, user, django_capture_on_commit_callbacks
):
    moderator.is_staff = True
    moderator.save()
    from django.contrib.auth.models import Permission

    moderator.user_permissions.add(*Permission.objects.filter(codename__endswith="payoutbatch"))
    client.force_login(moderator)
    sell(CreatorFactory(), user)
    batch = create_payout_batch()
    url = reverse("admin:billing_payoutbatch_changelist")
    assert client.get(url).status_code == 200

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(url, {"action": "approve", "_selected_action": [batch.pk]})

    assert response.status_code == 302
    assert PayoutBatch.objects.get(pk=batch.pk).status == "approved"
    assert len(queued) == 1


def test_another_creator_never_sees_your_balances_or_payouts(stripe_testbed, user, moderator):
    mine = onboard(stripe_testbed)
    theirs = CreatorFactory()
    sell(mine, user)
    batch = create_payout_batch()
    approve_payout_batch(batch, moderator)
    execute_payout_batch(batch.pk)
    transfer = batch.items.get().stripe_transfer_id

    own = client_for(mine.user).get("/api/v1/creators/me/payouts").json()
    other = client_for(theirs.user).get("/api/v1/creators/me/payouts")
    stranger = client_for(user).get("/api/v1/creators/me/payouts")

    assert own["balances"][0]["paid"] == NET and own["payouts"][0]["stripe_transfer_id"]
    assert other.status_code == 200
    assert other.json() == {"balances": [], "payouts": []}
    assert (stranger.status_code, stranger.json()["code"]) == (404, "not_a_creator")
    assert not PayoutItem.objects.for_user(theirs.user).exists()
    assert PayoutItem.objects.for_user(moderator).count() == 1

    client = client_for(theirs.user)
    client.force_login(theirs.user)
    page = client.get(reverse("console-payouts")).content.decode()
    assert transfer not in page and batch.reference not in page
    client.force_login(mine.user)
    page = client.get(reverse("console-payouts")).content.decode()
    assert transfer in page and "41.65" in page


def test_a_transfer_to_an_unknown_account_fails_once_and_keeps_the_money(
    stripe_testbed, user, moderator
):
    creator = CreatorFactory(stripe_account_id="acct_doesnotexist")
    sell(creator, user)
    batch = create_payout_batch()
    approve_payout_batch(batch, moderator)

    execute_payout_batch(batch.pk)

    item = batch.items.get()
    assert (item.status, item.failure_code, item.attempts) == ("failed", "resource_missing", 1)
    assert balance(creator).available == NET


@pytest.mark.parametrize("model", ["payoutbatch", "payoutitem"])
def test_payout_admin_pages_load_with_bounded_queries(
    client, django_user_model, user, model, django_assert_max_num_queries
):
    for _ in range(3):
        sell(CreatorFactory(), user)
    sell(CreatorFactory(stripe_account_id=""), user)
    batch = create_payout_batch()
    client.force_login(django_user_model.objects.create_superuser("root@example.com", "pw"))

    with django_assert_max_num_queries(12):
        listing = client.get(reverse(f"admin:billing_{model}_changelist"))
    with django_assert_max_num_queries(16):
        detail = client.get(reverse("admin:billing_payoutbatch_change", args=[batch.pk]))

    assert listing.status_code == 200 and detail.status_code == 200
    assert batch.reference.encode() in listing.content


def test_the_console_button_leads_to_stripe_onboarding_and_back_to_the_payouts_page(
    stripe_testbed, client
):
    creator = CreatorFactory(stripe_account_id="", payouts_enabled=False, charges_enabled=False)
    client.force_login(creator.user)

    page = client.get(reverse("console-payouts")).content.decode()
    assert "Set up payouts with Stripe" in page

    response = client.post(reverse("console-payouts"), {"connect": "1"})

    creator.refresh_from_db()
    assert creator.stripe_account_id.startswith("acct_")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{stripe_testbed.base_url}/connect/onboarding/")
    assert requests.get(response["Location"], timeout=10).status_code == 200
    finished = requests.post(response["Location"], allow_redirects=False, timeout=10)
    assert finished.headers["Location"].endswith("/console/payouts/?connect=done")
    assert "Continue payout onboarding at Stripe" in (
        client.get(reverse("console-payouts")).content.decode()
    )


@pytest.mark.django_db
def test_without_payments_the_console_says_why_payouts_cannot_be_set_up(client, settings):
    settings.STRIPE_SECRET_KEY = ""
    creator = CreatorFactory(stripe_account_id="", payouts_enabled=False)
    client.force_login(creator.user)

    page = client.get(reverse("console-payouts")).content.decode()

    assert "Set up payouts with Stripe" not in page
    assert "this server has none set up (no Stripe keys)" in page
