"""A payout's Connect transfer taken back by the platform (Stripe Dashboard or API): the
``transfer.reversed`` webhook credits the creator's balance with what came back, once."""

from __future__ import annotations

import pytest

from billing.models import CreatorEarning
from billing.services import earnings
from billing.services.payouts import (
    approve_payout_batch,
    create_payout_batch,
    execute_payout_batch,
)
from billing.stripe.connect import on_transfer_changed
from billing.tests.test_payouts import NET, balance, onboard, sell
from fmugateway.core.models import AuditEntry

pytestmark = pytest.mark.usefixtures("_no_hold")


@pytest.fixture
def _no_hold(settings):
    settings.CREATOR_EARNINGS_HOLD_DAYS = 0


def paid_item(testbed, buyer, moderator):
    creator = onboard(testbed)
    sell(creator, buyer)
    batch = create_payout_batch()
    approve_payout_batch(batch, moderator)
    execute_payout_batch(batch.pk)
    item = batch.items.get()
    assert item.status == "paid"
    return creator, item


def reverse(testbed, item, **amount) -> None:
    testbed.call("POST", f"/v1/transfers/{item.stripe_transfer_id}/reversals", **amount)
    testbed.settle()
    item.refresh_from_db()


def test_a_reversed_transfer_returns_the_money_to_the_creator_once(stripe_live, user, moderator):
    # Given a creator whose payout was transferred
    creator, item = paid_item(stripe_live, user, moderator)
    assert balance(creator) == earnings.Balance("EUR", 0, 0, 0, NET)

    # When the platform takes 1,000 of it back in Stripe
    reverse(stripe_live, item, amount=1000)

    # Then the webhook credits those 1,000 to available and the item counts them
    assert (item.status, item.amount_reversed) == ("paid", 1000)
    assert balance(creator) == earnings.Balance("EUR", 0, 1000, 0, NET - 1000)

    # And the same event delivered ten more times changes nothing
    [event] = [
        event
        for event in stripe_live.events("transfer.reversed")
        if event["data"]["object"]["id"] == item.stripe_transfer_id
    ]
    stripe_live.replay(event["id"], times=10)
    assert balance(creator).available == 1000

    # When the rest is taken back too, the item is reversed and all of it is available again
    reverse(stripe_live, item)
    assert (item.status, item.amount_reversed) == ("reversed", NET)
    assert balance(creator) == earnings.Balance("EUR", 0, NET, 0, 0)
    lines = CreatorEarning.objects.filter(payout_item=item, kind="payout_reversal")
    assert sorted(lines.values_list("net_amount", flat=True)) == sorted([1000, NET - 1000])
    assert AuditEntry.objects.filter(action="marketplace.payout_item.reversed").count() == 2

    # And the next batch pays the creator again
    assert create_payout_batch().items.get().amount == NET


def test_a_late_event_with_less_reversed_and_a_foreign_transfer_change_nothing(
    stripe_live, user, moderator
):
    creator, item = paid_item(stripe_live, user, moderator)
    stripe_live.mute()
    stripe_live.call("POST", f"/v1/transfers/{item.stripe_transfer_id}/reversals", amount=500)
    stripe_live.call("POST", f"/v1/transfers/{item.stripe_transfer_id}/reversals", amount=700)
    first, second = sorted(
        (
            event
            for event in stripe_live.events("transfer.reversed")
            if event["data"]["object"]["id"] == item.stripe_transfer_id
        ),
        key=lambda event: event["data"]["object"]["amount_reversed"],
    )

    # The newer event first: the handler re-reads the transfer, so both amounts count at once
    assert stripe_live.deliver(second).status_code == 200
    item.refresh_from_db()
    assert item.amount_reversed == 1200
    # The older one afterwards: nothing new
    assert stripe_live.deliver(first).status_code == 200
    assert balance(creator).available == 1200

    # A transfer that is not one of our payouts is ignored (no call to Stripe, no error)
    on_transfer_changed(sender=None, event=type("E", (), {"data": {"object": {"id": "tr_x"}}})())
    assert CreatorEarning.objects.filter(kind="payout_reversal").count() == 1
