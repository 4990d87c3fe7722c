"""The Content-Security-Policy in a real browser: Chromium refuses nothing on the key pages, and
their JavaScript still works under it (sorting the catalog, the run form, the console's upload,
Swagger UI's operations, the admin's actions, the card form of the local Stripe.js)."""

from __future__ import annotations

import re

import pytest

from accounts.factories import UserFactory
from catalog.services import reviews
from catalog.tests.catalog_helpers import published_version
from marketplace.factories import CreatorFactory, ListingFactory
from marketplace.models import Order
from marketplace.tests.fixtures import buy
from registry.factories import PackageFactory
from registry.models import Package
from tests.browser.conftest import csp_violations, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def shop():
    seller = CreatorFactory(display_name="Acme Simulation", slug="acme")
    ball = PackageFactory(
        owner=seller.user,
        slug="bouncing-ball",
        name="Bouncing Ball",
        summary="A ball dropped from a height bounces off the ground.",
        status=Package.Status.LISTED,
        is_free=True,
    )
    published_version(ball, variables=("h", "v", "e"), version="1.0.0")
    community = ListingFactory(package=ball, name="Community license", free=True)
    ListingFactory(package=ball, name="Commercial license", price_amount=4900)
    for name in ("Heat exchanger", "PI controller"):
        other = PackageFactory(owner=seller.user, name=name, status=Package.Status.LISTED)
        published_version(other)
    reviewer = UserFactory(email="ana@example.com")
    buy(reviewer, community)
    reviews.submit_review(reviewer, ball, rating=5, title="Exactly right", pros="Fast")
    return {"seller": seller, "ball": ball}


def test_storefront_pages_run_their_scripts_under_the_policy(shop, page, tmp_path):
    page.goto("/catalog/")
    page.get_by_label("Sort by").select_option("name")  # site.js submits the form
    page.wait_for_url(re.compile(r"sort=name"))
    assert csp_violations(page) == []

    buyer = UserFactory(email="buyer@example.com")
    log_in(page, buyer.email, PASSWORD)
    page.goto("/packages/bouncing-ball/")
    page.get_by_label("Stop time (s)").wait_for()  # the run form
    page.locator("meter.dist-bar").first.wait_for()  # the ratings, without style attributes
    shot(page, "csp-01-package-page")
    assert csp_violations(page) == []

    # The creator console's upload (upload.js posts the form and shows the answer).
    page.context.clear_cookies()
    log_in(page, shop["seller"].user.email, PASSWORD)
    page.goto("/console/packages/bouncing-ball/")
    bad = tmp_path / "bad.fmu"
    bad.write_bytes(b"not a zip")
    upload = page.locator("#upload-form")
    upload.get_by_label("FMU file (.fmu)").set_input_files(str(bad))
    upload.get_by_role("textbox", name="Version:").fill("2.0.0")
    page.get_by_role("button", name="Upload and validate").click()
    page.get_by_text("not a ZIP archive").wait_for()
    shot(page, "csp-02-console-upload")
    assert csp_violations(page) == []


def test_api_docs_render_the_operations_with_swagger_ui_from_our_static_files(page, live_server):
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto("/api/v1/docs/")
    page.locator(".opblock").first.wait_for()

    assert page.locator(".opblock").count() > 20  # every operation of the API
    page.get_by_text("/api/v1/packages", exact=True).first.wait_for()
    shot(page, "csp-03-api-docs")
    assert csp_violations(page) == []
    assert all(url.startswith(live_server.url) for url in requested), requested


def test_admin_pages_run_their_scripts_under_the_policy(shop, page):
    staff = UserFactory(email="admin@example.com", is_staff=True, is_superuser=True)
    log_in(page, staff.email, PASSWORD)

    page.goto("/admin/")
    page.get_by_role("link", name="Users").first.wait_for()
    assert csp_violations(page) == []
    page.goto("/admin/accounts/user/")
    page.locator("#action-toggle").check()  # admin's actions.js counts the selection
    page.locator(".action-counter", has_text=re.compile(r"\d+ of \d+ selected")).wait_for()
    shot(page, "csp-04-admin")
    assert csp_violations(page) == []


def test_the_pay_page_takes_the_card_with_the_configured_stripe_js(shop, stripe_testbed, page):
    buyer = UserFactory(email="payer@example.com")
    log_in(page, buyer.email, PASSWORD)
    page.goto("/packages/bouncing-ball/")
    page.locator(".sku", has_text="Commercial license").get_by_role(
        "button", name="Buy now"
    ).click()
    page.wait_for_url(re.compile(r"/account/orders/[^/]+/pay/$"))

    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill("4242424242424242")  # Stripe.js's card fields
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")
    card.get_by_placeholder("cvc").fill("123")
    assert csp_violations(page) == []
    page.get_by_role("button", name="Pay €49.00").click()

    # Stripe.js confirmed the payment at Stripe's API; the webhook is not delivered here.
    page.get_by_role("heading", name="Payment received: confirming").wait_for()
    shot(page, "csp-05-pay-page")
    assert csp_violations(page) == []
    order = Order.objects.get(buyer=buyer)
    assert (
        stripe_testbed.call("GET", f"/v1/payment_intents/{order.payment_reference}")["status"]
        == "succeeded"
    )
