"""End-to-end journeys in a real browser against a live server and a real Celery worker:

- a buyer searches, opens a package, gets a free license (the key is shown once), sees it in
  the account, buys a paid SKU with a card (Stripe.js served by the local Stripe-compatible
  server confirms the order's PaymentIntent; its signed webhook pays the order), finds that
  license in the account, runs the model and sees the result plot;
- a creator uploads a version in the console (with upload progress) and watches it validate.
- the demo creator (as ``make setup`` makes it) finishes Connect onboarding on the local Stripe
  server's hosted page, lists a paid SKU, the demo buyer pays it on the hosted Checkout page,
  and the creator sees the sale in the console.
"""

from __future__ import annotations

import re

import pytest

from accounts.factories import UserFactory
from billing.tests.stripe_fixtures import wait_for
from catalog.models import PackageSearch
from catalog.services import reviews, search
from catalog.tests.catalog_helpers import published_version
from demo.storefront_data import seed_categories
from licensing.models import License
from marketplace.factories import CouponFactory, CreatorFactory, ListingFactory
from marketplace.models import Order
from marketplace.tests.fixtures import buy
from registry.factories import PackageFactory
from registry.models import Package, PackageVersion
from registry.tests.fixtures import upload_sample
from tests.browser.conftest import CSP_LISTENER, csp_violations, log_in, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]
PASSWORD = "correct horse battery staple"
KEY = re.compile(r"FMUL(?:-[0-9A-Z]{4}){6}")


def fill_card(page) -> None:
    """Type a test card into Stripe.js's card Element (the local mock's fields)."""
    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill("4242424242424242")
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")
    card.get_by_placeholder("cvc").fill("123")


@pytest.fixture
def storefront(sample_fmus):
    """A small catalog: the real bouncing ball (free, runnable) and a few other listed models."""
    seed_categories()
    seller = CreatorFactory(
        display_name="Acme Simulation", slug="acme", bio="Models for **engineers**."
    )
    ball = PackageFactory(
        owner=seller.user,
        slug="bouncing-ball",
        name="Bouncing Ball",
        summary="A ball dropped from a height bounces off the ground, losing energy each time.",
        description="Classic **hybrid system** with state events.\n\n- height `h`\n- velocity `v`",
        category="mechanics",
        tags=["mechanics", "hybrid", "state events"],
        license_text="Free for evaluation and teaching.",
        is_free=True,
    )
    version = upload_sample(ball, sample_fmus[("bouncing_ball", "2.0")], with_vector=False)
    PackageVersion.objects.filter(pk=version.pk).update(validation_status="passed")
    Package.objects.filter(pk=ball.pk).update(status=Package.Status.LISTED)
    ListingFactory(package=ball, name="Community license", free=True, max_activations=2)
    ListingFactory(package=ball, name="Commercial license", price_amount=4900)
    others = [
        ("Vehicle longitudinal dynamics", "mechanics/vehicles", ["vehicles", "powertrain"], 9900),
        ("Heat exchanger", "thermal", ["thermal", "hvac"], 2500),
        ("PI controller", "control", ["control", "linear"], 0),
        ("Lithium-ion battery cell", "electrical", ["battery", "electrochemistry"], 14900),
        ("Hydraulic pump", "fluids", ["hydraulics", "pump"], 0),
    ]
    for index, (name, category, tags, price) in enumerate(others):
        package = PackageFactory(
            owner=seller.user,
            name=name,
            summary=f"A validated {name.lower()} model for system simulation.",
            category=category,
            tags=tags,
            status=Package.Status.LISTED,
            is_free=price == 0,
        )
        published_version(
            package,
            fmi=("2.0", "3.0")[index % 2],
            me=index % 2 == 0,
            certified=index % 2 == 1,
            platforms=["linux64", "win64"],
        )
        if price:
            ListingFactory(package=package, name="Standard", price_amount=price)
    search.index_packages(Package.objects.values_list("pk", flat=True))
    community = ball.listings.get(name="Community license")
    for email, rating, title, pros in [
        ("ana@example.com", 5, "Exactly what our course needed", "Clear variables, fast"),
        ("li@example.com", 4, "Solid reference model", "Certified, runs everywhere"),
    ]:
        reviewer = UserFactory(email=email)
        buy(reviewer, community)
        reviews.submit_review(reviewer, ball, rating=rating, title=title, pros=pros)
    PackageSearch.objects.filter(package__slug="bouncing-ball").update(
        featured=True, trending_score=5
    )
    return ball


def test_buyer_searches_buys_free_and_paid_licenses_runs_the_model_and_sees_the_plot(
    celery_worker_process, stripe_live, storefront, page
):
    buyer = UserFactory(email="buyer@example.com", display_name="Bo Buyer")
    page.goto("/")
    shot(page, "01-home")

    log_in(page, buyer.email, PASSWORD)
    page.get_by_label("Search models").fill("bouncing ball")
    page.get_by_label("Search models").press("Enter")
    page.wait_for_url(re.compile(r"/catalog/\?q="))
    assert page.locator("#results .package-card").count() >= 1
    shot(page, "02-search-results")

    page.locator("#results").get_by_role("link", name="Bouncing Ball").click()
    page.wait_for_url(re.compile(r"/packages/bouncing-ball/$"))
    page.get_by_role("heading", name="Variables (8)").wait_for()  # waits until visible
    shot(page, "03-package-page")

    page.get_by_role("button", name="Get it free").click()
    page.get_by_text("Your license key").wait_for()
    key = KEY.search(page.locator(".license-key").first.inner_text())
    assert key, "the license key is shown once after checkout"
    # One click copies it
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.locator(".key-once").get_by_role("button", name="Copy").click()
    page.locator(".key-once").get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == key.group(0)
    shot(page, "04-free-license-key")
    license = License.objects.get(owner=buyer)
    assert license.listing.name == "Community license"
    # Reloading the page (POST → redirect → GET) orders nothing again and hides the key
    page.reload()
    page.get_by_text("shown once, when the order was placed").wait_for()
    assert KEY.search(page.content()) is None
    assert Order.objects.filter(buyer=buyer).count() == 1

    page.get_by_role("link", name="Go to my licenses").click()
    page.get_by_role("cell", name=license.key_hint).wait_for()
    assert KEY.search(page.content()) is None  # never shown again
    shot(page, "05-account-licenses")

    # A paid SKU: the card is taken by Stripe.js on the payment page, Stripe's webhook pays.
    page.goto("/packages/bouncing-ball/")
    page.locator(".sku", has_text="Commercial license").get_by_role(
        "button", name="Buy now"
    ).click()
    page.wait_for_url(re.compile(r"/account/orders/[^/]+/pay/$"))
    order = Order.objects.get(buyer=buyer, status=Order.Status.PENDING)
    assert order.total_amount == 4900
    fill_card(page)
    shot(page, "06-card-payment")
    page.get_by_role("button", name="Pay €49.00").click()
    page.get_by_role("heading", name="Thank you — your order is paid").wait_for(timeout=30_000)
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    shot(page, "07-order-paid")
    page.get_by_role("link", name="Go to my licenses").click()
    paid = License.objects.get(owner=buyer, order=order)
    row = page.get_by_role("row", name=re.compile("Commercial license"))
    row.get_by_role("link", name="Show key").click()
    page.get_by_role("button", name="Show my key").click()
    assert KEY.search(page.locator(".license-key").first.inner_text())
    paid.refresh_from_db()
    assert paid.status == License.Status.ACTIVE and paid.key_hint
    shot(page, "08-paid-license-key")

    page.goto("/packages/bouncing-ball/#run")
    page.get_by_label("Stop time (s)").fill("3")
    page.locator('[name="run.h"]').fill("2")  # the form has a field per settable variable
    page.get_by_role("button", name="Run simulation").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/"))
    page.locator("#job-status", has_text="Succeeded").wait_for(timeout=90_000)
    # The interactive plot replaces the server-rendered one once it has drawn.
    page.locator("#result-plot[data-state=ready] canvas").first.wait_for(timeout=30_000)
    shot(page, "09-job-result-plot")

    page.goto("/account/")
    shot(page, "10-account-overview")


def test_buyer_subscribes_with_a_coupon_for_the_first_period_and_gives_a_card_for_renewals(
    stripe_live, storefront, page
):
    buyer = UserFactory(email="subscriber@example.com")
    ListingFactory(
        package=storefront,
        name="Team subscription",
        pricing_model="subscription",
        billing_interval="month",
        price_amount=990,
    )
    coupon = CouponFactory(code="LAUNCH100", percent_off=100)
    log_in(page, buyer.email, PASSWORD)
    page.goto("/packages/bouncing-ball/")
    page.locator(".sku", has_text="Team subscription").get_by_role(
        "button", name="Add to cart"
    ).click()
    page.wait_for_url(re.compile(r"/cart/$"))
    page.get_by_label("Coupon code").fill(coupon.code)
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("button", name="Place order").click()

    # Nothing to pay now, but the renewals need a card: Stripe.js saves it (a SetupIntent)
    page.wait_for_url(re.compile(r"/account/orders/[^/]+/pay/$"))
    page.get_by_role("heading", name="Add the card for your renewals").wait_for()
    page.get_by_text("Bouncing Ball — Team subscription: then €9.90 a month").wait_for()
    order = Order.objects.get(buyer=buyer, status=Order.Status.PENDING)
    assert order.total_amount == 0 and order.payment_reference.startswith("seti_")
    fill_card(page)
    shot(page, "11-card-for-renewals")
    page.get_by_role("button", name="Save card").click()
    page.get_by_role("heading", name="Thank you — your order is paid").wait_for(timeout=30_000)
    license = License.objects.get(owner=buyer, order=order)
    assert license.subscription_id, "a subscription renews the license with the saved card"


def test_creator_uploads_a_version_and_sees_it_validate(
    celery_worker_process, sample_fmus, page, tmp_path
):
    seed_categories()
    creator = CreatorFactory(display_name="Acme Simulation", slug="acme").user
    package = PackageFactory(
        owner=creator,
        slug="mass-spring-damper",
        name="Mass-Spring-Damper",
        summary="A damped linear oscillator driven by an external force.",
        category="mechanics",
        tags=["mechanics", "oscillator"],
    )
    sample = sample_fmus[("mass_spring_damper", "2.0")]

    log_in(page, creator.email, PASSWORD)
    page.goto("/console/")
    shot(page, "11-console-dashboard")
    page.get_by_role("link", name="Mass-Spring-Damper").first.click()
    upload = page.locator("#upload-form")
    upload.get_by_label("FMU file (.fmu)").set_input_files(str(sample.fmu_path))
    upload.get_by_role("textbox", name="Version:").fill("1.0.0")
    upload.get_by_label("Changelog").fill("First release.")
    upload.get_by_label("Reference results (CSV, optional)").set_input_files(
        str(sample.reference_csv)
    )
    page.get_by_role("button", name="Upload and validate").click()
    page.get_by_text("Version 1.0.0 uploaded").wait_for(timeout=30_000)
    row = page.locator("#version-1\\.0\\.0")
    # The page refreshes itself while validation runs.
    row.locator(".badge", has_text=re.compile("Certified|Validated")).wait_for(timeout=120_000)
    shot(page, "12-console-version-validated")
    version = package.versions.get()
    assert version.validation_status == "passed"

    page.get_by_role("link", name="report").click()
    page.get_by_role("heading", name="Validation report").wait_for()
    shot(page, "13-validation-report")


def test_demo_creator_onboards_payouts_publishes_a_paid_listing_and_sees_the_sale(
    stripe_live, demo_accounts, browser, live_server, settings, page
):
    """The demo creator (as ``make setup`` makes it) finishes Connect onboarding on the local
    Stripe server's hosted page, lists a paid SKU, the demo buyer pays it on the hosted Checkout
    page (a declined card first), and the creator finds the sale in the console."""
    from accounts.models import Creator

    settings.SITE_URL = live_server.url  # where Stripe's pages send people back
    stripe_live.also_deliver("account.updated")
    creator_account, buyer_account = demo_accounts["creator"], demo_accounts["buyer"]
    creator = Creator.objects.get(user__email=creator_account.email)
    package = (
        Package.objects.filter(owner=creator.user, status=Package.Status.LISTED)
        .order_by("pk")
        .first()
    )
    assert package is not None and not creator.charges_enabled

    # Payouts: the console's button leads to Stripe's hosted onboarding page and back.
    log_in(page, creator_account.email, creator_account.password)
    page.goto("/console/payouts/")
    page.get_by_role("button", name="Set up payouts with Stripe").click()
    page.get_by_text("TEST MODE").wait_for()
    shot(page, "journey-creator-connect-onboarding")
    page.get_by_role("button", name="Complete onboarding").click()
    page.wait_for_url(re.compile(r"/console/payouts/\?connect=done"))
    wait_for(
        lambda: Creator.objects.filter(pk=creator.pk, charges_enabled=True).exists(),
        what="account.updated enabling the creator's charges",
    )
    page.reload()
    facts = page.locator("dl.facts")
    for fact in ("Details submitted", "Charges enabled", "Payouts enabled"):
        assert facts.locator(f"dt:has-text('{fact}') + dd").inner_text() == "yes"
    shot(page, "journey-creator-payouts-enabled")

    # A paid listing on one of the seeded packages.
    page.goto(f"/console/packages/{package.slug}/listings/")
    form = page.locator("form", has=page.get_by_role("button", name="Add listing"))
    form.get_by_label("Name").fill("Studio license")
    form.get_by_label("Kind").select_option("download")
    form.get_by_label("Pricing model").select_option("paid")
    form.get_by_label("Price").fill("19.00")
    form.get_by_label("Currency").fill("EUR")
    form.get_by_role("button", name="Add listing").click()
    page.get_by_role("cell", name="Studio license").wait_for()
    shot(page, "journey-creator-paid-listing")

    # The buyer pays on Stripe's hosted Checkout page.
    buyer_context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    buyer_context.add_init_script(CSP_LISTENER)
    buyer = buyer_context.new_page()
    buyer.csp_console = []
    buyer.on(
        "console",
        lambda message: (
            buyer.csp_console.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    try:
        log_in(buyer, buyer_account.email, buyer_account.password)
        buyer.goto(f"/packages/{package.slug}/")
        buyer.locator(".sku", has_text="Studio license").get_by_role(
            "button", name="Buy now"
        ).click()
        buyer.wait_for_url(re.compile(r"/account/orders/[^/]+/pay/$"))
        buyer.get_by_role("button", name="Pay on Stripe's payment page").click()
        buyer.wait_for_url(re.compile(r"/checkout/pay/cs_test_"))
        buyer.get_by_text("4242 4242 4242 4242").wait_for()
        buyer.get_by_label("Card number").fill("4000 0000 0000 0002")
        buyer.get_by_label("Expiry (MM / YY)").fill("12 / 34")
        buyer.get_by_label("CVC").fill("123")
        buyer.get_by_role("button", name="Pay").click()
        buyer.get_by_role("alert").filter(has_text="declined").wait_for()
        buyer.get_by_label("Card number").fill("4242 4242 4242 4242")
        buyer.get_by_label("Expiry (MM / YY)").fill("12 / 34")
        buyer.get_by_label("CVC").fill("123")
        shot(buyer, "journey-creator-buyer-hosted-checkout")
        buyer.get_by_role("button", name="Pay").click()
        buyer.wait_for_url(re.compile(r"/account/orders/[^/]+/pay/\?checkout=cs_test_"))
        buyer.get_by_role("heading", name="Thank you — your order is paid").wait_for(timeout=30_000)
        shot(buyer, "journey-creator-buyer-paid")
        # The app's policy let the buyer go to Stripe's page and back (redirects only).
        assert csp_violations(buyer) == []
    finally:
        buyer_context.close()
    order = Order.objects.get(buyer__email=buyer_account.email, status=Order.Status.PAID)
    assert order.total_amount == 1900

    # The creator sees the sale.
    page.goto("/console/sales/")
    row = page.get_by_role("row", name=re.compile(re.escape(package.name)))
    row.first.wait_for()
    assert "19.00" in row.first.inner_text()
    shot(page, "journey-creator-sale")
