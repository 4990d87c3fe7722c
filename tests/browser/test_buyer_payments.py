"""The demo buyer's payments in a real browser, on the demo accounts and data as ``make setup``
makes them, in Stripe's test mode (the local Stripe-compatible server, its mock Stripe.js and
its signed webhooks to the live server):

- pays a paid order by card and receives the license key;
- subscribes to Pro and buys a credit pack, and sees the plan and the balance change.
"""

from __future__ import annotations

import re

import pytest

from accounts.models import User
from billing.services import balance_of, plan_for
from billing.tests.stripe_fixtures import wait_for
from licensing.models import License
from marketplace.models import Order
from tests.browser.conftest import log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
KEY = re.compile(r"FMUL(?:-[0-9A-Z]{4}){6}")


def fill_card(page, number: str = "4242424242424242") -> None:
    """Type a test card into the card Element (the local mock Stripe.js's fields)."""
    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill(number)
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")
    card.get_by_placeholder("cvc").fill("123")


def test_demo_buyer_pays_an_order_by_card_in_test_mode_and_gets_the_key(
    stripe_live, demo_accounts, page
):
    account = demo_accounts["buyer"]
    buyer = User.objects.get(email=account.email)
    log_in(page, account.email, account.password)

    # The demo's paid listing, in test mode
    page.goto("/packages/bouncing-ball/")
    page.locator("#buy").get_by_text("TEST MODE").wait_for()
    page.locator(".sku", has_text="Commercial license").get_by_role(
        "button", name="Buy now"
    ).click()
    page.wait_for_url(re.compile(r"/account/orders/[^/]+/pay/$"))
    page.get_by_text("4242 4242 4242 4242").wait_for()
    order = Order.objects.get(buyer=buyer, status=Order.Status.PENDING)

    fill_card(page)
    page.get_by_role("button", name="Pay €49.00").click()
    page.get_by_role("heading", name="Thank you — your order is paid").wait_for(timeout=30_000)
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    shot(page, "journey-buyer-order-paid")

    page.get_by_role("link", name="Go to my licenses").click()
    page.get_by_role("row", name=re.compile("Commercial license")).get_by_role(
        "link", name="Show key"
    ).click()
    page.get_by_role("button", name="Show my key").click()
    assert KEY.search(page.locator(".license-key").first.inner_text())
    assert License.objects.get(owner=buyer, order=order).status == License.Status.ACTIVE
    shot(page, "journey-buyer-license-key")


def test_demo_buyer_subscribes_to_pro_and_buys_credits(stripe_live, demo_accounts, page):
    account = demo_accounts["buyer"]
    buyer = User.objects.get(email=account.email)
    log_in(page, account.email, account.password)

    # Upgrade to Pro from the account overview, by card
    page.goto("/account/")
    page.get_by_role("link", name="Upgrade to Pro").click()
    page.locator("#current-plan", has_text="Free").wait_for()
    page.get_by_text("TEST MODE").wait_for()
    page.locator("#upgrade").get_by_role("link", name="Upgrade to Pro").click()
    fill_card(page)
    page.get_by_role("button", name="Pay and upgrade to Pro").click()
    page.wait_for_url(re.compile(r"/account/billing/plan/(#upgrade)?$"))  # subscribed
    wait_for(lambda: plan_for(buyer).code == "pro", timeout=30, what="the Pro plan")
    page.reload()
    page.locator("#current-plan", has_text="Pro").wait_for()
    page.get_by_role("button", name="Cancel subscription").wait_for()
    shot(page, "journey-buyer-pro-plan")

    # Buy 1000 credits at Pro's rate, by card; the balance grows when the webhook lands
    page.get_by_role("link", name="Buy credits").click()
    before = int(page.locator("#credit-balance").inner_text())
    page.get_by_role("button", name="Buy 1000 credits").click()
    page.get_by_role("heading", name="Pay for 1000 credits").wait_for()
    fill_card(page)
    page.get_by_role("button", name="Pay").click()
    page.get_by_text("1000 credits added").wait_for(timeout=30_000)
    assert int(page.locator("#credit-balance").inner_text()) == before + 1000
    assert balance_of(buyer) == before + 1000
    shot(page, "journey-buyer-credits-bought")
