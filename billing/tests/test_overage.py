"""Overage of paid plans, invoiced through Stripe once per account and cycle at cycle end."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from billing.models import CreditEntry, OverageCharge
from billing.services import credits, overage, plans
from billing.stripe import plan_subscriptions
from billing.stripe.credit_packs import price_pack
from billing.stripe.customers import customer_for
from billing.tasks import bill_overage
from fmugateway.core.models import AuditEntry

pytestmark = pytest.mark.slow


def _month_later(monkeypatch) -> None:
    """Move the clock a month ahead: this month's cycle has ended when the task runs."""
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(days=32))


def _pro_subscriber_in_overage(testbed, user) -> tuple[str, str]:
    """A Pro subscriber who overdrew 20,000 credits and has 5,000 held by a running job."""
    account = credits.get_account(user)
    started = plan_subscriptions.subscribe(user, payment_method=testbed.card())
    plan_subscriptions.refresh(started["subscription"])  # what its webhook does
    assert plans.plan_for(type(user).objects.get(pk=user.pk)).code == "pro"
    assert credits.balance_of(user) == 150_000
    done = credits.reserve(account, 170_000, "job:overage-1")
    credits.settle(done, 170_000)
    credits.reserve(account, 5_000, "job:still-running")
    assert credits.balance_of(user) == -25_000
    return customer_for(user).id, started["subscription"]


def _overage_items(testbed, customer: str) -> list[dict]:
    items = testbed.call("GET", f"/v1/invoiceitems?customer={customer}&limit=100")["data"]
    return [item for item in items if item["metadata"].get("kind") == "overage"]


@pytest.mark.django_db
def test_pro_overage_is_one_invoice_item_at_cycle_end_and_a_second_run_adds_nothing(
    stripe_testbed, user, monkeypatch
):
    # Given a Pro subscriber 20,000 credits into overage this cycle (5,000 more only held)
    customer, subscription = _pro_subscriber_in_overage(stripe_testbed, user)
    cycle = credits.current_cycle()

    # When the cycle has ended and the beat task runs
    _month_later(monkeypatch)
    assert bill_overage(cycle) == 1

    # Then Stripe holds one invoice item on the subscription: 20,000 x $0.015 = $300.00
    [item] = _overage_items(stripe_testbed, customer)
    assert (item["amount"], item["currency"]) == (30_000, "usd")
    assert item["subscription"] == subscription
    assert item["metadata"]["cycle"] == cycle
    # And the ledger turned the debt into the invoiced charge (the held job is not billed)
    entries = CreditEntry.objects.filter(account__user=user, kind="overage")
    assert list(entries.values_list("amount", "reference")) == [(20_000, f"overage:{cycle}")]
    assert credits.balance_of(user) == -5_000
    assert credits.recompute_balance(credits.get_account(user)).consistent
    charge = OverageCharge.objects.get(account__user=user)
    assert (charge.status, charge.stripe_invoice_item) == ("invoiced", item["id"])
    actions = list(
        AuditEntry.objects.filter(action__startswith="billing.overage.").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == ["billing.overage.invoiced", "billing.overage.recorded"]

    # When the task runs again
    assert bill_overage(cycle) == 0

    # Then nothing more is billed, written or audited
    assert len(_overage_items(stripe_testbed, customer)) == 1
    assert entries.count() == 1
    assert AuditEntry.objects.filter(action__startswith="billing.overage.").count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_bill_the_cycle_once(stripe_testbed, user, monkeypatch):
    # Given a Pro subscriber in overage this cycle
    customer, _ = _pro_subscriber_in_overage(stripe_testbed, user)
    cycle = credits.current_cycle()

    # When the cycle has ended and four task runs start at once
    _month_later(monkeypatch)
    barrier = threading.Barrier(4)
    errors = []

    def run():
        try:
            barrier.wait()
            bill_overage(cycle)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then the account has one charge, one ledger entry and one item at Stripe
    assert errors == []
    assert OverageCharge.objects.filter(account__user=user).count() == 1
    assert CreditEntry.objects.filter(account__user=user, kind="overage").count() == 1
    assert len(_overage_items(stripe_testbed, customer)) == 1


@pytest.mark.django_db
def test_account_without_subscription_gets_an_invoice_at_once(
    stripe_testbed, user, client, monkeypatch
):
    # Given an account staff put on Pro (no subscription) that overdrew 2,000 credits
    plans.change_plan(user, "pro")
    account = credits.get_account(user)
    credits.settle(credits.reserve(account, 152_000, "job:big"), 152_000)
    cycle = credits.current_cycle()

    # When the cycle is billed
    _month_later(monkeypatch)
    assert bill_overage(cycle) == 1
    monkeypatch.undo()

    # Then an invoice of $30.00 collects it, and the account page lists it
    charge = OverageCharge.objects.get(account__user=user)
    invoice = stripe_testbed.call("GET", f"/v1/invoices/{charge.stripe_invoice}")
    assert invoice["total"] == 3_000
    client.force_login(user)
    page = client.get("/account/billing/").content.decode()
    assert invoice["number"] in page and "$30.00" in page


@pytest.mark.django_db
def test_free_accounts_and_accounts_without_debt_are_not_billed(user, other_user):
    # Given a Free account in debt (a refunded pack it had spent) and a Pro account in credit
    free = credits.get_account(user)
    credits.adjust(free, -5_000, memo="refunded pack already spent", actor=None)
    plans.change_plan(other_user, "pro")
    pro = credits.get_account(other_user)
    cycle = credits.current_cycle()
    later = timezone.now() + timedelta(days=32)

    # Then closing the cycle bills neither
    assert overage.close_cycle(free, cycle, now=later) is None
    assert overage.close_cycle(pro, cycle, now=later) is None
    assert not OverageCharge.objects.exists()


@pytest.mark.django_db
def test_a_cycle_that_has_not_ended_cannot_be_billed(user):
    with pytest.raises(overage.DomainError) as error:
        overage.close_cycle(credits.get_account(user), credits.current_cycle())
    assert error.value.code == "cycle_not_ended"


@pytest.mark.django_db
def test_enterprise_overage_is_billed_at_the_accounts_negotiated_rate(
    stripe_testbed, user, other_user, monkeypatch
):
    # Given two Enterprise accounts that each overdrew 2,000 credits: one with the rate agreed
    # with it (0.012 USD a credit), one still on the tier's "negotiated" placeholder
    plans.change_plan(user, "enterprise", overage_rate_override_usd=Decimal("0.012"))
    plans.change_plan(other_user, "enterprise")
    for account in (credits.get_account(user), credits.get_account(other_user)):
        credits.settle(credits.reserve(account, 1_002_000, "job:big"), 1_002_000)
    cycle = credits.current_cycle()

    # When the cycle is billed
    _month_later(monkeypatch)
    assert bill_overage(cycle) == 1
    monkeypatch.undo()

    # Then the agreed rate prices it ($24.00), and the other account's debt waits for staff
    charge = OverageCharge.objects.get()
    assert (charge.account.user_id, charge.credits, charge.amount) == (user.pk, 2_000, 2_400)
    assert charge.rate == "0.012"
    invoice = stripe_testbed.call("GET", f"/v1/invoices/{charge.stripe_invoice}")
    assert invoice["total"] == 2_400
    assert credits.balance_of(user) == 0 and credits.balance_of(other_user) == -2_000
    # And credit packs are priced at the agreed rate too
    assert price_pack(user, 1_000).amount == 1_200
