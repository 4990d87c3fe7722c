"""Cart, coupons, checkout and payment: the order state machine and its audit trail."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import CreatorEarning
from fmugateway.core.errors import ConflictError, DomainError
from fmugateway.core.models import AuditEntry
from licensing.models import License
from licensing.services.licenses import verify_license
from marketplace import services
from marketplace.factories import CouponFactory, ListingFactory
from marketplace.models import Coupon, Order
from marketplace.tests.fixtures import buy, client_for

pytestmark = pytest.mark.django_db


def test_cart_add_list_remove(buyer_client, download_listing, free_listing):
    added = buyer_client.post("/api/v1/cart/items", {"listing": download_listing.pk})
    buyer_client.post("/api/v1/cart/items", {"listing": free_listing.pk})
    item_id = added.json()["items"][0]["id"]

    removed = buyer_client.delete(f"/api/v1/cart/items/{item_id}")
    cart = buyer_client.get("/api/v1/cart").json()

    assert added.status_code == 201
    assert removed.status_code == 204
    assert [item["listing"]["id"] for item in cart["items"]] == [free_listing.pk]
    assert cart["subtotal_amount"] == 0


def test_someone_elses_cart_item_is_404(user, other_user, download_listing):
    item = services.add_to_cart(user, download_listing.pk)

    assert client_for(other_user).delete(f"/api/v1/cart/items/{item.pk}").status_code == 404


def test_inactive_or_unlisted_listings_cannot_be_added(buyer_client, download_listing):
    download_listing.is_active = False
    download_listing.save()

    response = buyer_client.post("/api/v1/cart/items", {"listing": download_listing.pk})

    assert response.status_code == 404
    assert response.json()["code"] == "listing_not_found"


def test_creators_cannot_buy_their_own_package(seller_client, download_listing):
    response = seller_client.post("/api/v1/cart/items", {"listing": download_listing.pk})

    assert response.json()["code"] == "own_package"


def test_free_checkout_is_paid_at_once_and_shows_the_key_once(buyer_client, free_listing):
    buyer_client.post("/api/v1/cart/items", {"listing": free_listing.pk})

    response = buyer_client.post("/api/v1/checkout")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "paid" and body["total_amount"] == 0
    (license,) = body["licenses"]
    assert license["key"].startswith("FMUL-")
    code = verify_license(license["key"], "ball", "m")["payload"]["code"]
    assert code == "FINGERPRINT_MISMATCH"  # a real key, not yet activated anywhere
    assert buyer_client.get("/api/v1/cart").json()["items"] == []
    actions = list(AuditEntry.objects.values_list("action", flat=True).order_by("id"))
    assert actions == [
        "marketplace.order.created",
        "marketplace.order.paid",
        "marketplace.license.issued",
    ]


def test_paid_checkout_stays_pending_until_the_payment(user, buyer_client, download_listing):
    buyer_client.post("/api/v1/cart/items", {"listing": download_listing.pk})

    body = buyer_client.post("/api/v1/checkout").json()

    assert body["status"] == "pending"
    assert body["total_amount"] == 4900 and body["currency"] == "EUR"
    assert body["licenses"] == []
    assert body["lines"][0]["unit_amount"] == 4900
    assert not License.objects.filter(owner=user).exists()


def test_checkout_honours_idempotency_keys(buyer_client, download_listing):
    buyer_client.post("/api/v1/cart/items", {"listing": download_listing.pk})
    headers = {"HTTP_IDEMPOTENCY_KEY": "checkout-1"}

    first = buyer_client.post("/api/v1/checkout", **headers)
    replay = buyer_client.post("/api/v1/checkout", **headers)

    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["number"] == first.json()["number"]
    assert Order.objects.count() == 1


def test_empty_cart_cannot_check_out(buyer_client):
    response = buyer_client.post("/api/v1/checkout")

    assert response.status_code == 400
    assert response.json()["code"] == "cart_empty"


def test_mixed_currencies_are_refused(user, download_listing, package):
    usd = ListingFactory(package=package, name="US", currency="USD")
    services.add_to_cart(user, download_listing.pk)
    services.add_to_cart(user, usd.pk)

    with pytest.raises(DomainError) as error:
        services.checkout(user)

    assert error.value.code == "mixed_currencies"


def test_price_is_snapshotted_at_checkout(user, download_listing):
    services.add_to_cart(user, download_listing.pk)
    order = services.checkout(user).order
    download_listing.price_amount = 9900
    download_listing.save()

    services.mark_order_paid(order, "pi_1")

    line = order.lines.get()
    assert line.unit_amount == 4900
    assert CreatorEarning.objects.get(order_line=line).gross_amount == 4900


def test_mark_order_paid_ten_times_issues_licenses_once(user, download_listing, execute_listing):
    services.add_to_cart(user, download_listing.pk)
    services.add_to_cart(user, execute_listing.pk)
    order = services.checkout(user).order

    for _ in range(10):
        services.mark_order_paid(order, "pi_123")

    order.refresh_from_db()
    assert order.status == "paid" and order.payment_reference == "pi_123"
    assert License.objects.filter(order=order).count() == 2
    assert CreatorEarning.objects.filter(order_line__order=order).count() == 2
    assert AuditEntry.objects.filter(action="marketplace.order.paid").count() == 1
    execute = License.objects.get(order=order, kind="execute_only")
    assert execute.runs_remaining == 100 and not execute.can_download


def test_mark_order_paid_refuses_another_payment_and_wrong_amounts(user, download_listing):
    services.add_to_cart(user, download_listing.pk)
    order = services.checkout(user).order

    with pytest.raises(DomainError) as amount:
        services.mark_order_paid(order, "pi_1", amount=100, currency="EUR")
    services.mark_order_paid(order, "pi_1", amount=4900, currency="eur")
    with pytest.raises(ConflictError) as other:
        services.mark_order_paid(order, "pi_2")

    assert amount.value.code == "payment_amount_mismatch"
    assert other.value.code == "payment_reference_mismatch"


def test_cancelled_orders_cannot_be_paid(user, buyer_client, download_listing):
    services.add_to_cart(user, download_listing.pk)
    order = services.checkout(user).order

    response = buyer_client.post(f"/api/v1/orders/{order.pk}/cancel")
    with pytest.raises(ConflictError) as error:
        services.mark_order_paid(order, "pi_late")

    assert response.json()["status"] == "cancelled"
    assert error.value.code == "order_not_payable"
    assert AuditEntry.objects.filter(action="marketplace.order.cancelled").exists()


def test_failed_payment_closes_the_order(user, download_listing):
    services.add_to_cart(user, download_listing.pk)
    order = services.checkout(user).order

    services.fail_order(order, reason="card_declined")

    order.refresh_from_db()
    assert order.status == "failed" and order.closed_at is not None


def test_orders_are_never_deleted(user, free_listing):
    order = buy(user, free_listing).order

    with pytest.raises(PermissionError):
        order.delete()
    with pytest.raises(PermissionError):
        Order.objects.all().delete()


def test_subscription_license_lasts_one_billing_period(user, package):
    yearly = ListingFactory(
        package=package, pricing_model="subscription", billing_interval="year", price_amount=990
    )

    buy(user, yearly)

    license = License.objects.get(owner=user)
    assert timedelta(days=364) < license.expires_at - timezone.now() <= timedelta(days=366)


def test_trial_is_once_per_buyer(user, package):
    trial = ListingFactory(
        package=package,
        kind="execute_only",
        pricing_model="trial",
        price_amount=0,
        trial_runs=5,
    )

    buy(user, trial)

    license = License.objects.get(owner=user)
    assert license.runs_remaining == 5
    with pytest.raises(ConflictError) as error:
        services.add_to_cart(user, trial.pk)
    assert error.value.code == "trial_already_used"


def test_trial_by_days_expires(user, package):
    trial = ListingFactory(package=package, pricing_model="trial", price_amount=0, trial_days=14)

    buy(user, trial)

    license = License.objects.get(owner=user)
    assert timedelta(days=13) < license.expires_at - timezone.now() <= timedelta(days=14)


# --- Coupons ----------------------------------------------------------------------------------


def test_percent_coupon(user, buyer_client, download_listing):
    CouponFactory(code="LAUNCH20", percent_off=20)
    buyer_client.post("/api/v1/cart/items", {"listing": download_listing.pk})

    applied = buyer_client.post("/api/v1/cart/coupon", {"code": "launch20"})
    body = buyer_client.post("/api/v1/checkout").json()

    assert applied.json()["coupon"] == "LAUNCH20"
    assert (body["subtotal_amount"], body["discount_amount"], body["total_amount"]) == (
        4900,
        980,
        3920,
    )
    assert body["coupon_code"] == "LAUNCH20"
    assert Coupon.objects.get(code="LAUNCH20").times_used == 1


def test_amount_coupon_is_split_over_lines_and_never_below_zero(user, package, download_listing):
    cheap = ListingFactory(package=package, name="Runs", price_amount=100)
    CouponFactory(code="TENOFF", kind="amount", percent_off=None, amount_off=1000, currency="EUR")
    services.add_to_cart(user, download_listing.pk)
    services.add_to_cart(user, cheap.pk)
    services.apply_coupon(user, "TENOFF")

    order = services.checkout(user).order

    assert order.discount_amount == 1000 and order.total_amount == 4000
    lines = list(order.lines.order_by("id"))
    assert sum(line.discount_amount for line in lines) == 1000
    assert all(0 <= line.amount <= line.unit_amount for line in lines)


def test_package_coupon_only_discounts_that_package(user, package, other_package, download_listing):
    tank = ListingFactory(package=other_package, name="Tank", price_amount=1000)
    CouponFactory(code="BALLONLY", percent_off=50, package=package)
    services.add_to_cart(user, download_listing.pk)
    services.add_to_cart(user, tank.pk)
    services.apply_coupon(user, "BALLONLY")

    order = services.checkout(user).order

    assert order.discount_amount == 2450


def test_package_coupon_must_match_the_cart(user, other_package):
    tank = ListingFactory(package=other_package, name="Tank", price_amount=1000)
    CouponFactory(code="ELSEWHERE", percent_off=50, package=ListingFactory().package)
    services.add_to_cart(user, tank.pk)

    with pytest.raises(ConflictError) as error:
        services.apply_coupon(user, "ELSEWHERE")

    assert error.value.code == "coupon_not_applicable"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, "coupon_expired"),
        ({"is_active": False}, "coupon_inactive"),
        ({"max_uses": 1, "times_used": 1}, "coupon_exhausted"),
    ],
)
def test_unusable_coupons(buyer_client, download_listing, fields, code):
    CouponFactory(code="NOPE", **fields)
    buyer_client.post("/api/v1/cart/items", {"listing": download_listing.pk})

    response = buyer_client.post("/api/v1/cart/coupon", {"code": "NOPE"})

    assert response.status_code == 409
    assert response.json()["code"] == code


def test_coupon_expiring_before_checkout_is_refused_then(user, download_listing):
    coupon = CouponFactory(code="SOON")
    services.add_to_cart(user, download_listing.pk)
    services.apply_coupon(user, "SOON")
    Coupon.objects.filter(pk=coupon.pk).update(expires_at=timezone.now())

    with pytest.raises(ConflictError) as error:
        services.checkout(user)

    assert error.value.code == "coupon_expired"
    assert Order.objects.count() == 0


def test_cancelling_gives_the_coupon_use_back(user, download_listing):
    coupon = CouponFactory(code="ONCE", max_uses=1)
    services.add_to_cart(user, download_listing.pk)
    services.apply_coupon(user, "ONCE")
    order = services.checkout(user).order

    services.cancel_order(order, actor=user)

    assert Coupon.objects.get(pk=coupon.pk).times_used == 0
