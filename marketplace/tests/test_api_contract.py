"""The marketplace's answers are what the OpenAPI document says (issue 13): nullable where
null is sent, one list shape, signed documents whose every signed key is described."""

import pytest

from fmugateway.core.signing import verify_document
from marketplace.tests.fixtures import client_for, issue
from registry.tests.openapi import assert_conforms, component

pytestmark = pytest.mark.django_db


def test_an_empty_cart_shows_no_coupon_as_null(buyer_client):
    cart = buyer_client.get("/api/v1/cart")
    cleared = buyer_client.post("/api/v1/cart/coupon", {"code": None}, format="json")

    assert cart.json()["coupon"] is None
    assert component("Cart")["properties"]["coupon"]["nullable"] is True
    assert_conforms("GET", "/api/v1/cart", 200, cart.json())
    assert_conforms("POST", "/api/v1/cart/coupon", 200, cleared.json())


def test_a_free_checkout_answer_describes_the_licenses_and_keys_it_shows(
    buyer_client, free_listing
):
    buyer_client.post("/api/v1/cart/items", {"listing": free_listing.pk}, format="json")

    checkout = buyer_client.post("/api/v1/checkout")

    assert checkout.status_code == 201
    assert checkout.json()["licenses"][0]["key"].startswith("FMUL-")
    assert checkout.json()["lines"][0]["license"] == checkout.json()["licenses"][0]["id"]
    assert_conforms("POST", "/api/v1/checkout", 201, checkout.json())


def test_a_creator_without_a_website_has_null_not_an_empty_uri(buyer_client):
    buyer_client.post(
        "/api/v1/creators/apply",
        {"display_name": "Acme", "slug": "acme", "support_email": "help@acme.example.com"},
    )

    mine = buyer_client.get("/api/v1/creators/me").json()
    public = buyer_client.get("/api/v1/creators/acme").json()

    assert mine["website"] is None and public["website"] is None
    assert_conforms("GET", "/api/v1/creators/me", 200, mine)
    assert_conforms("GET", "/api/v1/creators/{slug}", 200, public)


def test_my_organisations_are_the_standard_paginated_list(buyer_client):
    buyer_client.post("/api/v1/orgs", {"name": "Acme Labs"}, format="json")

    body = buyer_client.get("/api/v1/orgs?page_size=1").json()

    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    assert [org["slug"] for org in body["results"]] == ["acme-labs"]
    assert_conforms("GET", "/api/v1/orgs", 200, body)


def test_license_check_answers_document_every_signed_key(api_client, user, download_listing):
    licensed = issue(user, download_listing)
    body = {"key": licensed.key, "package": "ball", "fingerprint": "m-1", "nonce": "n-1"}

    activated = api_client.post("/api/v1/licenses/activate", body, format="json").json()
    verified = api_client.post("/api/v1/licenses/verify", body, format="json").json()
    offline = client_for(user).get(
        f"/api/v1/licenses/{licensed.license.pk}/offline?fingerprint=m-1"
    )
    missing = api_client.post("/api/v1/licenses/verify", {**body, "key": ""}, format="json")

    documented = set(component("LicenseCheckPayload")["properties"])
    for document in (activated, verified):
        assert set(verify_document(document)) == documented
        assert_conforms("POST", "/api/v1/licenses/verify", 200, document)
    assert set(verify_document(offline.json())) == set(
        component("OfflineLicensePayload")["properties"]
    )
    assert_conforms("GET", "/api/v1/licenses/{id}/offline", 200, offline.json())
    # A blank key is "required", as installed tools were told.
    assert missing.status_code == 400
    assert missing.json()["fields"]["key"][0]["code"] == "required"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"entitlement": "print"}, "entitlement", "invalid_choice"),
        ({"fingerprint": " "}, "fingerprint", "invalid"),
        ({"package": 7}, "package", "invalid"),
    ],
)
def test_license_check_errors_keep_their_codes(api_client, change, field, code):
    body = {"key": "FMUL-x", "package": "ball", "fingerprint": "m-1", **change}

    response = api_client.post("/api/v1/licenses/verify", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["fields"][field][0]["code"] == code
