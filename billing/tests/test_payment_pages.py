"""The account's Upgrade to Pro and Buy credits pages, on the local Stripe server with its
signed webhooks: the plan and the balance change when Stripe says the payment succeeded."""

from __future__ import annotations

import re

import pytest

from billing.models import CreditEntry
from billing.services import balance_of, credits, plan_for
from billing.tests.stripe_fixtures import wait_for

pytestmark = [pytest.mark.slow]
PLAN = "/account/billing/plan/"
CREDITS = "/account/billing/credits/"
NO_PAYMENTS = "Payments are not set up on this server, so paid items cannot be bought here."
TEST_CARDS = ("4242 4242 4242 4242", "4000 0000 0000 0002")


def _secret(page: str) -> str:
    found = re.search(r'data-client-secret="([^"]+)"', page)
    assert found, "the page has a card form with a client secret"
    return found.group(1)


def test_upgrade_to_pro_by_card_then_cancel(stripe_live, client, user):
    client.force_login(user)

    # Given the plan page: the plans side by side, Free current, TEST MODE with the test cards
    page = client.get(PLAN).content.decode()
    assert "TEST MODE" in page and all(card in page for card in TEST_CARDS)
    assert 'id="current-plan">Free<' in page and "Upgrade to Pro" in page

    # When the buyer asks to upgrade, gives a card (Stripe.js confirms the SetupIntent) and
    # the page subscribes with it
    page = client.get(f"{PLAN}?upgrade=pro").content.decode()
    setup_intent = re.search(r'name="setup_intent" value="(seti_\w+)"', page).group(1)
    assert _secret(page).startswith(setup_intent)
    stripe_live.save_card(setup_intent)
    response = client.post(PLAN, {"action": "subscribe", "setup_intent": setup_intent})

    # Then Pro starts when the subscription's webhook lands, and the page shows it
    assert response.status_code == 302
    wait_for(lambda: plan_for(user).code == "pro", what="the Pro plan")
    page = client.get(PLAN).content.decode()
    assert 'id="current-plan">Pro<' in page and "Cancel subscription" in page

    # And cancelling keeps Pro to the end of the paid period
    client.post(PLAN, {"action": "cancel"})
    page = client.get(PLAN).content.decode()
    assert "does not renew" in page and plan_for(user).code == "pro"


def test_subscribing_with_someone_elses_card_setup_is_refused(
    stripe_live, client, user, other_user
):
    client.force_login(other_user)
    page = client.get(f"{PLAN}?upgrade=pro").content.decode()
    theirs = re.search(r'name="setup_intent" value="(seti_\w+)"', page).group(1)
    stripe_live.save_card(theirs)
    client.force_login(user)

    response = client.post(PLAN, {"action": "subscribe", "setup_intent": theirs}, follow=True)

    assert "The card was not confirmed" in response.content.decode()
    assert plan_for(user).code == "free"


def test_buy_credits_by_card_shows_the_new_balance(stripe_live, client, user):
    client.force_login(user)
    credits.get_account(user)  # with this month's grant
    before = balance_of(user)

    # Given the packs priced at the Free plan's rate, in test mode
    page = client.get(CREDITS).content.decode()
    assert "TEST MODE" in page and all(card in page for card in TEST_CARDS)
    assert "1000 credits" in page and "$50.00" in page

    # When the buyer buys 1000 credits and Stripe.js pays with the card
    page = client.post(CREDITS, {"credits": "1000"}).content.decode()
    assert "Pay for 1000 credits" in page
    payment_intent = _secret(page).split("_secret_")[0]
    stripe_live.pay(payment_intent)

    # Then the credits arrive with the webhook, and the page says so with the balance
    wait_for(
        lambda: CreditEntry.objects.filter(reference=f"stripe:{payment_intent}").exists(),
        what="the credit pack",
    )
    page = client.get(f"{CREDITS}?paid={payment_intent}").content.decode()
    assert "1000 credits added" in page
    assert f'id="credit-balance">{before + 1000}<' in page


@pytest.mark.django_db
def test_without_payments_upgrade_and_buy_credits_are_disabled_with_the_reason(
    settings, client, user
):
    settings.STRIPE_SECRET_KEY = ""
    client.force_login(user)

    for url, button in ((PLAN, "Upgrade to Pro"), (CREDITS, "Buy credits")):
        response = client.get(url)
        page = response.content.decode()
        assert response.status_code == 200
        assert f'disabled aria-describedby="no-payments">{button}</button>' in page
        assert NO_PAYMENTS in page and "TEST MODE" not in page


@pytest.mark.django_db
def test_account_pages_link_to_upgrade_and_buy_credits(client, user):
    client.force_login(user)

    for url in ("/account/", "/account/billing/"):
        page = client.get(url).content.decode()
        assert f'href="{PLAN}"' in page and f'href="{CREDITS}"' in page


@pytest.mark.parametrize(
    ("key", "live", "test_mode"),
    [
        ("sk_test_" + "x" * 24, False, True),
        ("sk_test_" + "x" * 24, True, True),  # a test key never moves real money
        ("sk_live_" + "x" * 24, False, True),  # STRIPE_LIVE_MODE false: test mode
        ("sk_live_" + "x" * 24, True, False),
        ("", False, False),  # no payments at all: nothing to call test mode
    ],
)
@pytest.mark.django_db
def test_money_pages_say_test_mode_exactly_when_payments_move_no_real_money(
    settings, client, user, key, live, test_mode
):
    settings.STRIPE_SECRET_KEY, settings.STRIPE_LIVE_MODE = key, live
    client.force_login(user)

    for url in (PLAN, CREDITS, "/account/billing/", "/console/payouts/"):
        response = client.get(url)
        assert response.status_code == 200
        assert ("TEST MODE" in response.content.decode()) is test_mode, url
