"""The local Stripe test server's hosted pages: what a person does at Stripe Checkout and Connect
onboarding, done in a browser (here over HTTP) against the real server."""

from __future__ import annotations

import pytest
import requests

from billing.tests.stripe_fixtures import TEST_SECRET_KEY, wait_for


@pytest.fixture
def api(localstripe_url):
    def call(method: str, path: str, **data) -> dict:
        response = requests.request(
            method,
            f"{localstripe_url}{path}",
            data=data or None,
            auth=(TEST_SECRET_KEY, ""),
            timeout=10,
        )
        assert response.status_code < 300, response.text
        return response.json()

    return call


@pytest.fixture
def session(api) -> dict:
    customer = api("POST", "/v1/customers", email="buyer@example.com")["id"]
    return api(
        "POST",
        "/v1/checkout/sessions",
        mode="payment",
        customer=customer,
        success_url="http://app.test/orders/7/pay/?checkout={CHECKOUT_SESSION_ID}",
        cancel_url="http://app.test/orders/7/pay/",
        **{
            "line_items[0][price_data][currency]": "eur",
            "line_items[0][price_data][unit_amount]": "1250",
            "line_items[0][price_data][product_data][name]": "Heat pump model",
            "line_items[0][quantity]": "1",
        },
    )


def _pay(url: str, number: str) -> requests.Response:
    form = {"number": number, "expiry": "12 / 34", "cvc": "123"}
    return requests.post(url, data=form, allow_redirects=False, timeout=10)


def test_checkout_page_shows_the_amount_and_the_test_cards(session, localstripe_url):
    assert session["url"] == f"{localstripe_url}/checkout/pay/{session['id']}"

    page = requests.get(session["url"], timeout=10)

    assert page.status_code == 200
    assert "TEST MODE" in page.text
    assert "12.50 EUR" in page.text
    assert "4242 4242 4242 4242" in page.text
    assert "4000 0000 0000 0002" in page.text
    assert 'href="http://app.test/orders/7/pay/"' in page.text  # cancel goes back


def test_a_declined_card_stays_on_the_page_and_the_session_stays_open(session, api):
    response = _pay(session["url"], "4000 0000 0000 0002")

    assert response.status_code == 400
    assert "declined" in response.text
    assert api("GET", f"/v1/checkout/sessions/{session['id']}")["status"] == "open"


def test_paying_with_the_test_card_completes_the_session_and_returns_to_success_url(session, api):
    response = _pay(session["url"], "4242 4242 4242 4242")

    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"http://app.test/orders/7/pay/?checkout={session['id']}"
    )
    paid = api("GET", f"/v1/checkout/sessions/{session['id']}")
    assert paid["status"] == "complete"
    assert paid["payment_status"] == "paid"
    intent = api("GET", f"/v1/payment_intents/{paid['payment_intent']}")
    assert intent["status"] == "succeeded"
    assert intent["amount"] == 1250
    # Paying twice is refused: the page says the session is over.
    assert _pay(session["url"], "4242424242424242").status_code == 400


def test_onboarding_page_enables_the_account_and_returns(api):
    account = api("POST", "/v1/accounts", type="express", email="creator@example.com")["id"]
    link = api(
        "POST",
        "/v1/account_links",
        account=account,
        refresh_url="http://app.test/?connect=refresh",
        return_url="http://app.test/?connect=done",
        type="account_onboarding",
    )

    page = requests.get(link["url"], timeout=10)
    assert page.status_code == 200
    assert "Complete onboarding" in page.text
    response = requests.post(link["url"], allow_redirects=False, timeout=10)

    assert response.status_code == 303
    assert response.headers["Location"] == "http://app.test/?connect=done"
    enabled = api("GET", f"/v1/accounts/{account}")
    assert enabled["details_submitted"] is True
    assert enabled["charges_enabled"] is True
    assert enabled["payouts_enabled"] is True
    # The platform is told, as Stripe does.
    wait_for(
        lambda: any(
            event["data"]["object"]["id"] == account
            for event in api("GET", "/v1/events?type=account.updated&limit=100")["data"]
        ),
        what="account.updated",
    )


def test_checkout_page_subscribes_and_saves_cards_too(api):
    customer = api("POST", "/v1/customers", email="pro@example.com")["id"]
    product = api("POST", "/v1/products", name="Pro")["id"]
    price = api(
        "POST",
        "/v1/prices",
        product=product,
        unit_amount="1900",
        currency="usd",
        lookup_key="pages-test-pro",
        **{"recurring[interval]": "month"},
    )["id"]
    subscribe = api(
        "POST",
        "/v1/checkout/sessions",
        mode="subscription",
        customer=customer,
        success_url="http://app.test/account/?subscribed=1",
        **{"line_items[0][price]": price, "line_items[0][quantity]": "1"},
    )
    save_card = api(
        "POST",
        "/v1/checkout/sessions",
        mode="setup",
        customer=customer,
        currency="usd",
        success_url="http://app.test/account/?saved=1",
    )

    assert "19.00 USD a period" in requests.get(subscribe["url"], timeout=10).text
    assert _pay(subscribe["url"], "4242424242424242").headers["Location"].endswith("subscribed=1")
    assert "Save card" in requests.get(save_card["url"], timeout=10).text
    assert _pay(save_card["url"], "4242424242424242").headers["Location"].endswith("saved=1")

    subscription = api("GET", f"/v1/checkout/sessions/{subscribe['id']}")["subscription"]
    assert api("GET", f"/v1/subscriptions/{subscription}")["status"] == "active"
    setup = api("GET", f"/v1/checkout/sessions/{save_card['id']}")["setup_intent"]
    assert api("GET", f"/v1/setup_intents/{setup}")["status"] == "succeeded"


def test_unknown_sessions_and_accounts_are_404_pages(localstripe_url):
    for path in ("/checkout/pay/cs_test_nope", "/connect/onboarding/acct_nope"):
        response = requests.get(f"{localstripe_url}{path}", timeout=10)
        assert response.status_code == 404
        assert "No such" in response.text
