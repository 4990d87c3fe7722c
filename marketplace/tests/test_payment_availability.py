"""Where payments are not set up (no ``STRIPE_SECRET_KEY``) paid items cannot be bought and no
order that can never be paid is made; where they are in test mode, pages that take money say so."""

from __future__ import annotations

import pytest

from marketplace import services
from marketplace.models import CartItem, Order

pytestmark = pytest.mark.django_db
NO_PAYMENTS = "Payments are not set up on this server, so paid items cannot be bought here."


@pytest.fixture
def no_payments(settings):
    settings.STRIPE_SECRET_KEY = ""
    return settings


def test_a_paid_sku_cannot_go_in_the_cart_without_payments(
    no_payments, user, buyer_client, download_listing
):
    response = buyer_client.post("/api/v1/cart/items", {"listing": download_listing.pk})

    assert response.status_code == 503
    assert response.json()["code"] == "payments_unavailable"
    assert not CartItem.objects.filter(cart__user=user).exists()


def test_checkout_of_a_paid_cart_creates_no_order_without_payments(
    settings, user, buyer_client, download_listing
):
    # Given a paid SKU put in the cart while payments worked, then the keys were removed
    services.add_to_cart(user, download_listing.pk)
    settings.STRIPE_SECRET_KEY = ""

    # When the buyer checks out (API and page)
    response = buyer_client.post("/api/v1/checkout")
    buyer_client.force_login(user)
    page = buyer_client.post("/checkout/", follow=True)

    # Then both are refused and no order exists; the cart is kept
    assert response.status_code == 503
    assert response.json()["code"] == "payments_unavailable"
    assert "Paid licenses cannot be bought on this server" in page.content.decode()
    assert Order.objects.count() == 0
    assert CartItem.objects.filter(cart__user=user).count() == 1


def test_free_skus_still_work_without_payments(no_payments, user, buyer_client, free_listing):
    assert buyer_client.post("/api/v1/cart/items", {"listing": free_listing.pk}).status_code == 201

    response = buyer_client.post("/api/v1/checkout")

    assert response.status_code == 201
    assert Order.objects.get().status == Order.Status.PAID


def test_buy_now_on_the_package_page_is_disabled_with_the_reason(
    no_payments, client, user, version, download_listing, free_listing
):
    client.force_login(user)

    page = client.get(version.package.get_absolute_url()).content.decode()

    assert '<button type="button" class="block" disabled' in page
    assert f'disabled aria-describedby="no-payments-{download_listing.pk}">Add to cart' in page
    assert NO_PAYMENTS in page
    assert "Get it free" in page  # the free SKU still offers itself
    assert "TEST MODE" not in page


def test_buy_now_from_the_page_without_payments_creates_nothing(
    no_payments, client, user, version, download_listing
):
    client.force_login(user)

    response = client.post(
        "/cart/add/", {"listing": download_listing.pk, "buy_now": "1"}, follow=True
    )

    assert response.status_code == 200
    assert "Paid licenses cannot be bought on this server" in response.content.decode()
    assert Order.objects.count() == 0 and not CartItem.objects.exists()


def test_cart_with_a_paid_item_cannot_place_the_order_without_payments(
    settings, client, user, download_listing
):
    services.add_to_cart(user, download_listing.pk)
    settings.STRIPE_SECRET_KEY = ""
    client.force_login(user)

    page = client.get("/cart/").content.decode()

    assert NO_PAYMENTS in page
    assert 'disabled aria-describedby="no-payments">Place order</button>' in page


def test_package_page_with_a_paid_sku_says_test_mode(client, user, version, download_listing):
    # (the commerce tests' server has a test key)
    client.force_login(user)

    page = client.get(version.package.get_absolute_url()).content.decode()

    assert "TEST MODE" in page
    assert "Buy now" in page and NO_PAYMENTS not in page


def test_live_keys_show_no_test_mode(settings, client, user, version, download_listing):
    settings.STRIPE_SECRET_KEY = "sk_live_" + "x" * 24
    settings.STRIPE_LIVE_MODE = True
    client.force_login(user)

    assert "TEST MODE" not in client.get(version.package.get_absolute_url()).content.decode()
    assert "TEST MODE" not in client.get("/cart/").content.decode()


def test_order_payment_page_says_test_mode_with_the_test_cards(
    stripe_testbed, client, user, download_listing
):
    services.add_to_cart(user, download_listing.pk)
    order = services.checkout(user).order
    client.force_login(user)

    response = client.get(f"/account/orders/{order.number}/pay/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "TEST MODE" in page
    assert "4242 4242 4242 4242" in page and "4000 0000 0000 0002" in page


def test_a_package_with_only_free_skus_says_no_test_mode(client, user, version, free_listing):
    client.force_login(user)

    page = client.get(version.package.get_absolute_url()).content.decode()

    assert "Get it free" in page and "TEST MODE" not in page
