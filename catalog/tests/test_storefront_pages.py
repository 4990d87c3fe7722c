"""Storefront pages: browsing, buying, the buyer's account and the creator console, and that no
page shows one user's private data to another (two buyers, two creators)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client

from accounts.factories import UserFactory
from billing.models import ApiKey
from catalog.models import Category, PackageSearch, Review, WishlistItem
from catalog.services import reviews
from catalog.tests.catalog_helpers import published_version
from execution.models import SimulationJob
from licensing.models import License
from marketplace import services
from marketplace.factories import CouponFactory, CreatorFactory, ListingFactory
from marketplace.models import Order
from marketplace.tests.fixtures import buy
from registry.factories import PackageFactory
from registry.models import Package

pytestmark = pytest.mark.django_db
KEY = re.compile(r"FMUL(?:-[0-9A-Z]{4}){6}")


def order_pay_url(order: Order) -> str:
    return f"/account/orders/{order.number}/pay/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def shop(seller, package, free_listing, download_listing):
    Category.objects.create(name="Mechanics", slug="mechanics")
    Package.objects.filter(pk=package.pk).update(category="mechanics", tags=["mechanics"])
    published_version(package, variables=("h", "v", "e"))
    return package


def test_home_catalog_category_and_creator_pages(client, shop, seller):
    PackageSearch.objects.filter(pk=shop.pk).update(featured=True, trending_score=3)

    home = client.get("/").content.decode()
    browse = client.get("/catalog/?q=ball").content.decode()
    category = client.get("/catalog/c/mechanics/").content.decode()
    creator = client.get(f"/creators/{seller.slug}/").content.decode()

    for html in (home, browse, category, creator):
        assert "Bouncing ball" in html
    assert "Featured" in home and "Trending this week" in home
    assert "1–1 of 1 model" in browse
    assert client.get("/catalog/c/nope/").status_code == 404


def test_package_page_shows_skus_and_asks_anonymous_visitors_to_log_in(client, shop):
    html = client.get(shop.get_absolute_url()).content.decode()

    assert "Get this model" in html and "Community" in html and "€49.00" in html
    assert "Log in to buy" in html and "Ratings and reviews" in html


def test_buying_a_free_sku_shows_the_key_once(shop, free_listing, user):
    client = logged_in(user)

    response = client.post("/cart/add/", {"listing": free_listing.pk, "buy_now": "1"})

    # POST → redirect → GET: the completed order's page shows the key, with a copy button
    order = Order.objects.get(buyer=user)
    assert response.status_code == 302
    assert response["Location"] == f"/account/orders/{order.number}/complete/"
    html = client.get(response["Location"]).content.decode()
    assert "Your license key" in html and len(KEY.findall(html)) == 1
    assert 'data-copy="license-key-1"' in html and 'id="license-key-1"' in html
    # ...and refreshing that page neither orders again nor shows the key again
    again = client.get(response["Location"]).content.decode()
    assert KEY.search(again) is None and "shown once" in again
    assert Order.objects.filter(buyer=user).count() == 1
    license = License.objects.get(owner=user)
    assert license.listing == free_listing
    listing_page = client.get("/account/licenses/").content.decode()
    assert license.key_hint in listing_page and KEY.search(listing_page) is None
    assert "You have 1 license" in client.get(shop.get_absolute_url()).content.decode()


def test_buying_a_paid_sku_leads_to_the_card_payment_page(
    stripe_testbed, shop, download_listing, user
):
    client = logged_in(user)

    response = client.post("/cart/add/", {"listing": download_listing.pk, "buy_now": "1"})

    order = Order.objects.get(buyer=user)
    assert order.status == Order.Status.PENDING and not License.objects.filter(owner=user)
    assert response.status_code == 302 and response["Location"] == order_pay_url(order)
    html = client.get(order_pay_url(order)).content.decode()
    # The card form: Stripe.js from the configured URL, the order's PaymentIntent secret.
    order.refresh_from_db()
    intent = stripe_testbed.call("GET", f"/v1/payment_intents/{order.payment_reference}")
    assert intent["amount"] == 4900 and intent["client_secret"] in html
    assert f'src="{django_settings.STRIPE_JS_URL}"' in html
    assert django_settings.STRIPE_PUBLISHABLE_KEY in html
    # Without JavaScript the page says so and offers Stripe's payment page.
    assert "Paying by card on this page needs JavaScript" in html
    assert "Pay on Stripe's payment page" in html


def test_paying_without_javascript_goes_to_stripes_payment_page(
    stripe_testbed, shop, download_listing, user
):
    client = logged_in(user)
    client.post("/cart/add/", {"listing": download_listing.pk, "buy_now": "1"})
    order = Order.objects.get(buyer=user)

    response = client.post(order_pay_url(order))

    assert response.status_code == 302
    session_id = response["Location"].rsplit("/", 1)[1]
    session = stripe_testbed.call("GET", f"/v1/checkout/sessions/{session_id}")
    assert session["metadata"]["order_number"] == order.number
    assert session["amount_total"] == 4900
    assert session["success_url"].endswith(
        f"{order_pay_url(order)}?checkout={{CHECKOUT_SESSION_ID}}"
    )


def test_back_from_stripes_payment_page_the_order_is_confirming_not_payable_again(
    stripe_testbed, shop, download_listing, user
):
    # Given a buyer who paid on Stripe's hosted page; its webhook has not arrived yet
    client = logged_in(user)
    client.post("/cart/add/", {"listing": download_listing.pk, "buy_now": "1"})
    order = Order.objects.get(buyer=user)
    client.get(order_pay_url(order))  # the card page was opened first
    session_id = client.post(order_pay_url(order))["Location"].rsplit("/", 1)[1]
    stripe_testbed.complete_checkout(session_id)

    # When Stripe sends the buyer back to the order's page
    html = client.get(f"{order_pay_url(order)}?checkout={session_id}").content.decode()

    # Then the page follows the payment (it refreshes until the webhook pays the order) and
    # offers no card form to pay again
    assert "Payment received: confirming" in html and 'http-equiv="refresh"' in html
    assert 'id="card-form"' not in html
    assert Order.objects.get(pk=order.pk).status == "pending"
    # And another order's session, or one not completed, does not count
    client.post("/cart/add/", {"listing": download_listing.pk, "buy_now": "1"})
    second = Order.objects.filter(buyer=user).exclude(pk=order.pk).get()
    html = client.get(f"{order_pay_url(second)}?checkout={session_id}").content.decode()
    assert "Pay for your order" in html and 'id="card-form"' in html
    open_session = client.post(order_pay_url(second))["Location"].rsplit("/", 1)[1]
    html = client.get(f"{order_pay_url(second)}?checkout={open_session}").content.decode()
    assert "Pay for your order" in html


def test_a_subscription_whose_first_period_a_coupon_pays_asks_for_the_card_of_its_renewals(
    stripe_testbed, shop, package, user
):
    monthly = ListingFactory(
        package=package,
        name="Monthly",
        pricing_model="subscription",
        billing_interval="month",
        price_amount=990,
    )
    client = logged_in(user)
    client.post("/cart/add/", {"listing": monthly.pk})
    client.post("/cart/coupon/", {"code": CouponFactory(percent_off=100).code})

    response = client.post("/checkout/")

    # No license yet: the order waits for the card that pays the renewals
    order = Order.objects.get(buyer=user)
    assert (order.status, order.total_amount) == ("pending", 0)
    assert response.status_code == 302 and response["Location"] == order_pay_url(order)
    assert not License.objects.filter(owner=user).exists()
    html = client.get(order_pay_url(order)).content.decode()
    order.refresh_from_db()
    setup = stripe_testbed.call("GET", f"/v1/setup_intents/{order.payment_reference}")
    assert setup["client_secret"] in html and 'data-mode="setup"' in html
    assert "Save card" in html and "then €9.90 a month" in html
    assert "Pay €0.00" not in html
    # The account lists it as waiting; without JavaScript, Stripe's page takes the card
    assert (
        f'href="{order_pay_url(order)}">Pay now' in client.get("/account/orders/").content.decode()
    )
    response = client.post(order_pay_url(order))
    session_id = response["Location"].rsplit("/", 1)[1]
    session = stripe_testbed.call("GET", f"/v1/checkout/sessions/{session_id}")
    assert (session["mode"], session["metadata"]["order_number"]) == ("setup", order.number)


def test_the_payment_page_follows_the_payment_until_the_order_is_paid(
    stripe_testbed, shop, download_listing, user
):
    client = logged_in(user)
    client.post("/cart/add/", {"listing": download_listing.pk, "buy_now": "1"})
    order = Order.objects.get(buyer=user)
    client.get(order_pay_url(order))
    order.refresh_from_db()

    # Paid at Stripe, the webhook not arrived yet: the page waits (and refreshes itself)
    stripe_testbed.pay(order.payment_reference)
    html = client.get(order_pay_url(order)).content.decode()
    assert "Payment received: confirming" in html and 'http-equiv="refresh"' in html
    assert order.status == Order.Status.PENDING

    # The webhook's effect: the order is paid, the page says so and links the licenses
    services.mark_order_paid(order, order.payment_reference)
    html = client.get(order_pay_url(order)).content.decode()
    assert "your order is paid" in html and 'http-equiv="refresh"' not in html
    assert License.objects.filter(owner=user, order=order).count() == 1


def test_the_payment_page_says_when_payments_are_not_set_up(settings, shop, download_listing, user):
    # An order placed while payments worked; then the keys were removed
    client = logged_in(user)
    client.post("/cart/add/", {"listing": download_listing.pk, "buy_now": "1"})
    order = Order.objects.get(buyer=user)
    settings.STRIPE_SECRET_KEY = ""

    response = client.get(order_pay_url(order))

    html = response.content.decode()
    assert response.status_code == 200 and "Payments are not available on this server" in html
    assert "card-form" not in html
    assert client.post(order_pay_url(order)).status_code == 302  # back, with the message
    assert order.number in client.get("/account/orders/").content.decode()


def test_another_buyer_cannot_see_or_pay_an_order(shop, download_listing, user):
    client = logged_in(user)
    client.post("/cart/add/", {"listing": download_listing.pk, "buy_now": "1"})
    order = Order.objects.get(buyer=user)
    stranger = logged_in(UserFactory())

    assert stranger.get(order_pay_url(order)).status_code == 404
    assert stranger.post(order_pay_url(order)).status_code == 404
    assert Client().get(order_pay_url(order)).status_code == 302  # to the login page


def test_cart_and_checkout_without_javascript(shop, free_listing, user):
    client = logged_in(user)
    client.post("/cart/add/", {"listing": free_listing.pk})

    assert "Community" in client.get("/cart/").content.decode()
    html = client.post("/checkout/", follow=True).content.decode()

    assert KEY.search(html) and License.objects.filter(owner=user).count() == 1


def test_forms_need_the_csrf_token(shop, free_listing, user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    assert client.post("/cart/add/", {"listing": free_listing.pk}).status_code == 403
    page = client.get(shop.get_absolute_url()).content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= page.count('method="post"')


def test_license_page_rotates_the_key_and_lists_activations(shop, free_listing, user):
    buy(user, free_listing)
    license = License.objects.get(owner=user)
    client = logged_in(user)

    rotated = client.post(f"/account/licenses/{license.pk}/", {"action": "rotate"})

    # POST → redirect → GET: the key is shown once with a copy button; a refresh rotates nothing
    assert rotated.status_code == 302
    html = client.get(rotated["Location"]).content.decode()
    license.refresh_from_db()
    rotated_at = license.key_rotated_at
    assert "Your new license key" in html and rotated_at is not None
    assert KEY.search(html) and 'data-copy="new-license-key"' in html
    assert KEY.search(client.get(f"/account/licenses/{license.pk}/").content.decode()) is None
    license.refresh_from_db()
    assert license.key_rotated_at == rotated_at


def test_account_pages_render(shop, free_listing, user):
    buy(user, free_listing)
    client = logged_in(user)
    client.post(f"/packages/{shop.slug}/wishlist/")
    order = Order.objects.get(buyer=user)

    for url in [
        "/account/",
        "/account/licenses/",
        "/account/orders/",
        f"/account/orders/{order.number}/",
        "/account/billing/",
        "/account/api-keys/",
        "/account/wishlist/",
        "/accounts/profile/",
        "/jobs/",
    ]:
        assert client.get(url).status_code == 200, url
    assert WishlistItem.objects.filter(user=user, package=shop).exists()
    created = client.post("/account/api-keys/", {"name": "ci", "scopes": ["read", "run"]})
    assert created.status_code == 302  # POST → redirect → GET: a refresh creates no second key
    shown = client.get(created["Location"]).content.decode()
    assert "fmugw_live_" in shown and 'data-copy="new-api-key"' in shown
    assert "fmugw_live_" not in client.get("/account/api-keys/").content.decode()
    assert ApiKey.objects.filter(owner=user).count() == 1


def test_console_pages_for_a_creator(shop, seller):
    client = logged_in(seller.user)

    for url in [
        "/console/",
        f"/console/packages/{shop.slug}/",
        f"/console/packages/{shop.slug}/listings/",
        "/console/sales/",
        "/console/reviews/",
        "/console/payouts/",
    ]:
        assert client.get(url).status_code == 200, url
    response = client.post(
        f"/console/packages/{shop.slug}/listings/",
        {
            "name": "Student",
            "kind": "download",
            "pricing_model": "free",
            "currency": "EUR",
            "max_activations": "1",
            "license_template": "Teaching only.",
            "price": "",
        },
    )
    assert response.status_code == 302
    assert PackageSearch.objects.get(pk=shop.pk).has_free


def test_run_form_submits_a_job(sample_fmus, artifacts_dir, user):
    from registry.tests.fixtures import upload_sample

    owner = CreatorFactory().user
    package = PackageFactory(owner=owner, slug="bb", status=Package.Status.LISTED, is_free=True)
    version = upload_sample(package, sample_fmus[("bouncing_ball", "2.0")], with_vector=False)
    type(version).objects.filter(pk=version.pk).update(validation_status="passed")
    client = logged_in(user)

    page = client.get(package.get_absolute_url()).content.decode()
    response = client.post(
        "/jobs/new/", {"version_id": version.pk, "run.stop_time": "2", "run.h": "3"}
    )

    assert "Run a demo" in page
    job = SimulationJob.objects.get(owner=user)
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.settings["stop_time"] == 2 and job.settings["start_values"] == {"h": 3}


# --- privacy: two buyers, two creators --------------------------------------------------------


@pytest.fixture
def two_of_each(shop, seller, free_listing):
    other_seller = CreatorFactory()
    other_package = PackageFactory(
        owner=other_seller.user, slug="tank", name="Water tank", status="listed", is_free=False
    )
    other_listing = ListingFactory(package=other_package, pricing_model="free", price_amount=0)
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    buy(alice, free_listing)
    buy(bob, other_listing)
    version = published_version(shop)
    SimulationJob.objects.create(owner=alice, version=version, sha256=version.sha256)
    reviews.submit_review(alice, shop, rating=4, title="Alice's review")
    reviews.submit_review(bob, other_package, rating=2, title="Bob's review")
    return {
        "alice": alice,
        "bob": bob,
        "seller": seller,
        "other_seller": other_seller,
        "other_package": other_package,
    }


def test_buyers_never_see_each_others_licenses_orders_jobs_or_keys(two_of_each):
    alice, bob = two_of_each["alice"], two_of_each["bob"]
    alice_license = License.objects.get(owner=alice)
    alice_order = Order.objects.get(buyer=alice)
    alice_job = SimulationJob.objects.get(owner=alice)
    client = logged_in(alice)
    client.post("/account/api-keys/", {"name": "alice-ci", "scopes": ["read"]})
    bob_client = logged_in(bob)

    assert bob_client.get(f"/account/licenses/{alice_license.pk}/").status_code == 404
    assert (
        bob_client.post(f"/account/licenses/{alice_license.pk}/", {"action": "rotate"}).status_code
        == 404
    )
    assert bob_client.get(f"/account/orders/{alice_order.number}/").status_code == 404
    assert bob_client.get(f"/jobs/{alice_job.pk}/").status_code == 404
    for url in [
        "/account/",
        "/account/licenses/",
        "/account/orders/",
        "/account/api-keys/",
        "/jobs/",
    ]:
        html = bob_client.get(url).content.decode()
        assert alice_order.number not in html and "alice-ci" not in html, url
        assert alice_license.key_hint not in html, url
    revoked = bob_client.post(
        "/account/api-keys/",
        {"action": "revoke", "key": ApiKey.objects.get(owner=alice).pk},
    )
    assert revoked.status_code == 404


def test_creators_never_see_each_others_console(two_of_each):
    seller, other = two_of_each["seller"], two_of_each["other_seller"]
    client = logged_in(other.user)

    assert client.get("/console/packages/ball/").status_code == 404
    assert client.get("/console/packages/ball/listings/").status_code == 404
    sales = client.get("/console/sales/").content.decode()
    console_reviews = client.get("/console/reviews/").content.decode()
    assert "Bouncing ball" not in sales and "Water tank" in sales
    assert "Alice&#x27;s review" not in console_reviews and "Bob&#x27;s review" in console_reviews
    mine = logged_in(seller.user).get("/console/sales/").content.decode()
    assert "Water tank" not in mine and "Bouncing ball" in mine
    target = Review.objects.get(title="Alice's review")
    client.post(f"/reviews/{target.pk}/respond/", {"text": "hijack"})
    target.refresh_from_db()
    assert target.creator_response == ""


def test_package_page_shows_only_the_viewers_own_license(two_of_each, shop):
    bob_page = logged_in(two_of_each["bob"]).get(shop.get_absolute_url()).content.decode()
    alice_page = logged_in(two_of_each["alice"]).get(shop.get_absolute_url()).content.decode()

    assert "You have 1 license" in alice_page
    assert "You have" not in bob_page


def test_console_upload_still_needs_the_csrf_token(seller, package):
    client = Client(enforce_csrf_checks=True)
    client.force_login(seller.user)

    response = client.post(f"/console/packages/{package.slug}/", {"action": "submit"})

    assert response.status_code == 403
