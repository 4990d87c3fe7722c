"""Balance, ledger, plans and quotes over the API: mine only, paginated, scoped."""

import pytest
from rest_framework.test import APIClient

from billing.factories import CreditAccountFactory
from billing.services import credits

pytestmark = pytest.mark.django_db


def test_plans_are_public_in_the_standard_list_shape(api_client):
    response = api_client.get("/api/v1/billing/plans")

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (3, None, None)
    names = [plan["name"] for plan in body["results"]]
    assert names == ["Free", "Pro", "Enterprise"]
    assert body["results"][0]["is_default"] is True
    assert {"rate_limit_per_minute", "max_sweep_size", "features"} <= set(body["results"][1])


def test_balance_opens_the_account_with_its_grant(user_client):
    response = user_client.get("/api/v1/billing/balance")

    assert response.status_code == 200
    body = response.json()
    assert body["balance"] == 1000
    assert body["plan"]["code"] == "free"
    assert [entry["kind"] for entry in body["recent_entries"]] == ["grant"]


def test_balance_shows_held_credits(user, user_client):
    account = CreditAccountFactory(user=user, balance=100)
    credits.reserve(account, 30, "job:1")

    body = user_client.get("/api/v1/billing/balance").json()

    assert body["balance"] == 70
    assert body["reserved"] == 30


def test_ledger_is_mine_only_and_cursor_paginated(
    user, other_user, user_client, django_assert_max_num_queries
):
    account = CreditAccountFactory(user=user, balance=100)
    for i in range(5):
        credits.release(credits.reserve(account, 1, f"job:{i}"))
    CreditAccountFactory(user=other_user, balance=7)

    with django_assert_max_num_queries(1):
        first = user_client.get("/api/v1/billing/ledger?page_size=6").json()
    second = user_client.get(first["next"]).json()

    rows = first["results"] + second["results"]
    assert len(rows) == 11  # adjustment + 5 x (reserve, release)
    assert [row["id"] for row in rows] == sorted((row["id"] for row in rows), reverse=True)
    assert all(row["balance_after"] != 7 for row in rows)
    assert second["next"] is None


def test_ledger_needs_credentials(api_client):
    assert api_client.get("/api/v1/billing/ledger").status_code == 401


def test_quote(user, user_client):
    CreditAccountFactory(user=user, balance=5)

    response = user_client.post(
        "/api/v1/billing/quote",
        {"cpu_seconds": 10, "memory_mb": 1024, "wall_seconds": 8, "model_size_class": "small"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["credits"] == 1 + 10 + 2
    assert body["plan"] == "free"
    assert body["sufficient"] is False
    assert set(body["breakdown"]) >= {"run", "cpu", "memory", "premium_surcharge", "discount"}


def test_quote_validates_its_input(user_client):
    response = user_client.post(
        "/api/v1/billing/quote", {"cpu_seconds": -1, "memory_mb": 1}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"cpu_seconds", "wall_seconds"}


def test_schema_lists_billing_paths_and_auth_schemes():
    schema = (
        APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    )

    assert "/api/v1/api-keys" in schema["paths"]
    assert "/api/v1/auth/token" in schema["paths"]
    assert {"apiKey", "bearerToken"} <= set(schema["components"]["securitySchemes"])


@pytest.mark.parametrize("path", ["/api/v1/billing/subscribe", "/api/v1/billing/credit-packs"])
def test_a_payment_method_stripe_does_not_know_is_400_not_a_provider_error(
    stripe_settings, user_client, path
):
    body = {"payment_method": "pm_doesnotexist", "credits": 1000}

    response = user_client.post(path, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "payment_method_invalid"


def test_a_payment_method_that_is_no_stripe_id_is_a_field_error(stripe_settings, user_client):
    response = user_client.post(
        "/api/v1/billing/subscribe", {"payment_method": "card_x;drop"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["fields"]["payment_method"][0]["code"] == "invalid"


def test_a_token_request_that_is_not_an_object_is_400(key_client):
    response = key_client.post("/api/v1/auth/token", [], format="json")

    assert response.status_code == 400
