"""My licenses and orders: lists, details, keys shown once, rotation, activations, offline."""

import pytest

from fmugateway.core.models import AuditEntry
from fmugateway.core.signing import verify_document
from licensing.models import License
from licensing.services.licenses import activate_license, revoke_license, verify_license
from marketplace.tests.fixtures import buy, client_for, issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def mine(user, download_listing):
    return issue(user, download_listing)


def test_my_licenses_lists_only_mine_without_key_material(
    buyer_client, mine, other_user, download_listing, django_assert_max_num_queries
):
    issue(other_user, download_listing)

    with django_assert_max_num_queries(4):
        response = buyer_client.get("/api/v1/licenses")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [item["id"] for item in results] == [mine.license.pk]
    item = results[0]
    assert item["key_hint"].startswith("FMUL-")
    assert "key" not in item and "key_hash" not in item
    assert mine.key not in response.content.decode()
    assert item["entitlements"] == ["download", "execute"]
    assert item["terms"].startswith("# License")


def test_another_users_license_orders_and_activations_are_404(
    mine, other_user, user, download_listing
):
    order = buy(user, download_listing).order
    activate_license(mine.key, "ball", "m1")
    activation = mine.license.activations.get()
    stranger = client_for(other_user)
    pk = mine.license.pk

    for method, url in [
        ("get", f"/api/v1/licenses/{pk}"),
        ("post", f"/api/v1/licenses/{pk}/rotate"),
        ("post", f"/api/v1/licenses/{pk}/key"),
        ("get", f"/api/v1/licenses/{pk}/activations"),
        ("delete", f"/api/v1/licenses/{pk}/activations/{activation.pk}"),
        ("get", f"/api/v1/licenses/{pk}/offline?fingerprint=m1"),
        ("get", f"/api/v1/orders/{order.pk}"),
        ("post", f"/api/v1/orders/{order.pk}/cancel"),
    ]:
        response = getattr(stranger, method)(url)
        assert response.status_code == 404, (url, response.content)
    assert stranger.get("/api/v1/orders").json()["results"] == []


def test_anonymous_cannot_list_licenses(api_client):
    assert api_client.get("/api/v1/licenses").status_code == 401


def test_rotate_shows_a_new_key_once_and_the_old_one_stops(buyer_client, mine):
    response = buyer_client.post(f"/api/v1/licenses/{mine.license.pk}/rotate")

    assert response.status_code == 200
    new_key = response.json()["key"]
    assert new_key.startswith("FMUL-") and new_key != mine.key
    old = verify_license(mine.key, "ball", "m1")["payload"]["code"]
    assert old == "NOT_FOUND"
    assert "key" not in buyer_client.get(f"/api/v1/licenses/{mine.license.pk}").json()
    assert AuditEntry.objects.filter(action="marketplace.license.rotated").count() == 1


def test_key_stored_only_as_hmac(mine):
    stored = License.objects.values_list("key_hash", "key_hint").get(pk=mine.license.pk)

    assert mine.key not in "".join(stored)
    assert len(stored[0]) == 64


def test_webhook_issued_license_key_is_claimed_once(user, buyer_client, download_listing):
    order = buy(user, download_listing).order
    license = License.objects.get(order=order)
    assert not license.key_hash

    first = buyer_client.post(f"/api/v1/licenses/{license.pk}/key")
    second = buyer_client.post(f"/api/v1/licenses/{license.pk}/key")

    assert first.status_code == 201
    key = first.json()["key"]
    assert verify_license(key, "ball", "m1")["payload"]["code"] == "FINGERPRINT_MISMATCH"
    assert second.status_code == 409
    assert second.json()["code"] == "key_already_issued"


def test_activations_list_and_owner_deactivation(buyer_client, mine):
    activate_license(mine.key, "ball", "m1", label="laptop")
    activate_license(mine.key, "ball", "m2")
    url = f"/api/v1/licenses/{mine.license.pk}/activations"
    activation = mine.license.activations.get(fingerprint="m1")

    listed = buyer_client.get(url).json()["results"]
    removed = buyer_client.delete(f"{url}/{activation.pk}")
    active = buyer_client.get(url + "?active=1").json()["results"]

    assert {a["fingerprint"] for a in listed} == {"m1", "m2"}
    assert removed.status_code == 200 and removed.json()["is_active"] is False
    assert [a["fingerprint"] for a in active] == ["m2"]
    assert License.objects.get(pk=mine.license.pk).activation_count == 1


def test_offline_license_file_is_signed_and_bound_to_the_machine(buyer_client, mine, settings):
    settings.OFFLINE_LICENSE_TTL_DAYS = 7
    activate_license(mine.key, "ball", "m1")

    response = buyer_client.get(f"/api/v1/licenses/{mine.license.pk}/offline?fingerprint=m1")

    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    payload = verify_document(response.json())
    assert payload["type"] == "fmugateway.offline-license"
    assert payload["fingerprint"] == "m1"
    assert payload["package"] == "ball"
    assert payload["entitlements"] == ["download", "execute"]
    assert payload["expires_at"] > payload["issued_at"]
    assert mine.key not in response.content.decode()


def test_offline_file_needs_an_activated_machine_and_a_good_license(buyer_client, mine):
    url = f"/api/v1/licenses/{mine.license.pk}/offline?fingerprint=m1"
    assert buyer_client.get(url).json()["code"] == "fingerprint_not_activated"
    activate_license(mine.key, "ball", "m1")
    revoke_license(mine.license, reason="test")

    response = buyer_client.get(url)

    assert response.status_code == 409
    assert response.json()["code"] == "license_revoked"


def test_my_orders_list_and_detail(
    user,
    buyer_client,
    download_listing,
    free_listing,
    execute_listing,
    django_assert_max_num_queries,
):
    buy(user, execute_listing)
    order = buy(user, download_listing, free_listing).order

    with django_assert_max_num_queries(4):
        listed = buyer_client.get("/api/v1/orders").json()["results"]
    detail = buyer_client.get(f"/api/v1/orders/{order.pk}").json()

    assert len(listed) == 2
    assert listed[0]["number"] == order.number
    assert detail["status"] == "paid"
    assert detail["total_amount"] == 4900
    assert len(detail["lines"]) == 2
    assert all(line["license"] for line in detail["lines"])
