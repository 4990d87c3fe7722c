"""The admin: pages load with bounded queries, actions call the services, no key material."""

import pytest
from django.urls import reverse

from licensing.models import License
from licensing.services.licenses import activate_license, claim_key
from marketplace import services
from marketplace.factories import CouponFactory
from marketplace.tests.fixtures import buy

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("admin@example.com", "pw")
    client.force_login(admin)
    return client


@pytest.fixture
def sold(user, other_user, download_listing, execute_listing):
    CouponFactory()
    orders = [buy(buyer, download_listing, execute_listing).order for buyer in (user, other_user)]
    for order in orders:
        for license in License.objects.filter(order=order):
            key = claim_key(license, order.buyer).key
            activate_license(key, "ball", "machine")
    services.refund_order(orders[0], 100, reason="goodwill")
    return orders


MODELS = [
    "accounts.creator",
    "marketplace.listing",
    "marketplace.coupon",
    "marketplace.order",
    "marketplace.orderline",
    "licensing.license",
    "marketplace.licenserenewal",
    "licensing.activation",
    "licensing.runconsumption",
    "marketplace.refund",
    "billing.creatorearning",
]


@pytest.mark.parametrize("model", MODELS)
def test_changelists_load_with_bounded_queries(
    admin_client, sold, model, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse(f"admin:{model.replace('.', '_')}_changelist"))

    assert response.status_code == 200


def test_license_page_shows_no_key_material(admin_client, sold):
    license = License.objects.filter(order=sold[0]).first()

    response = admin_client.get(reverse("admin:licensing_license_change", args=[license.pk]))

    assert response.status_code == 200
    assert license.key_hash not in response.content.decode()


def test_order_page_loads(admin_client, sold):
    response = admin_client.get(reverse("admin:marketplace_order_change", args=[sold[0].pk]))

    assert response.status_code == 200


@pytest.mark.parametrize(("action", "status"), [("revoke", "revoked"), ("suspend", "suspended")])
def test_license_actions(admin_client, sold, action, status):
    license = License.objects.filter(order=sold[1]).first()

    admin_client.post(
        reverse("admin:licensing_license_changelist"),
        {"action": action, "_selected_action": [license.pk]},
    )

    license.refresh_from_db()
    assert license.status == status
