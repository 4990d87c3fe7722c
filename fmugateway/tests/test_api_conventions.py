"""Every API error is JSON with a stable code, a sentence and field errors."""

import pytest

pytestmark = pytest.mark.django_db


def assert_error_shape(body: dict) -> None:
    assert set(body) == {"code", "detail", "fields"}
    assert isinstance(body["code"], str) and body["code"].islower()
    assert isinstance(body["detail"], str) and body["detail"]


def test_unknown_api_route_is_json_404(api_client):
    response = api_client.get("/api/v1/no/such/thing")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert_error_shape(response.json())
    assert response.json()["code"] == "not_found"


def test_unknown_api_route_is_json_404_in_debug_too(api_client, settings):
    settings.DEBUG = True

    response = api_client.get("/api/v1/nope")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_wrong_method_is_json_405(user_client):
    response = user_client.delete("/api/v1/me")

    assert response.status_code == 405
    assert_error_shape(response.json())
    assert response.json()["code"] == "method_not_allowed"


def test_unauthenticated_is_json_with_code(api_client):
    response = api_client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_validation_error_lists_fields_with_codes(user_client):
    response = user_client.patch("/api/v1/me", {"display_name": "x" * 200}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert_error_shape(body)
    assert body["code"] == "invalid"
    assert body["fields"]["display_name"][0]["code"] == "max_length"


def test_malformed_json_is_malformed_json(user_client):
    response = user_client.generic(
        "PATCH", "/api/v1/me", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


@pytest.mark.urls("fmugateway.tests.urls_probe")
def test_unexpected_exception_is_json_500_without_internals(client):
    client.raise_request_exception = False

    response = client.get("/api/v1/test/explode")

    assert response.status_code == 500
    body = response.json()
    assert_error_shape(body)
    assert body["code"] == "server_error"
    assert "secret internal detail" not in response.content.decode()
    assert response["X-Request-ID"] in body["detail"]


def test_successful_request_carries_request_id(user_client, user):
    response = user_client.get("/api/v1/me", HTTP_X_REQUEST_ID="abc-123")

    assert response.status_code == 200
    assert response["X-Request-ID"] == "abc-123"
    assert response.json()["email"] == user.email


def test_hostile_request_id_is_replaced(user_client):
    response = user_client.get("/api/v1/me", HTTP_X_REQUEST_ID="<script>\n")

    assert response["X-Request-ID"] != "<script>\n"
    assert len(response["X-Request-ID"]) == 32


def test_schema_and_docs_are_served(api_client):
    schema = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = api_client.get("/api/v1/docs/")

    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    assert "/api/v1/me" in schema.json()["paths"]
    assert docs.status_code == 200


def test_non_api_404_is_html(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "query", ["page_size=201", "page_size=0", "page_size=x", "page=0", "page=x", "page=1000001"]
)
def test_paging_parameters_out_of_range_are_400_not_silently_cut(api_client, query):
    response = api_client.get(f"/api/v1/packages?{query}")

    assert response.status_code == 400
    assert_error_shape(response.json())
    assert list(response.json()["fields"]) == [query.split("=")[0]]


def test_a_page_past_the_last_is_404(api_client):
    assert api_client.get("/api/v1/packages?page=7").status_code == 404


def test_the_ledger_bounds_its_page_size_too(user_client):
    assert user_client.get("/api/v1/billing/ledger?page_size=500").status_code == 400
    assert user_client.get("/api/v1/billing/ledger?page_size=200").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/packages?status=bogus",
        "/api/v1/packages?mine=perhaps",
        "/api/v1/jobs?status=bogus",
    ],
)
def test_a_filter_with_a_value_it_cannot_take_is_400_not_ignored(user_client, path):
    response = user_client.get(path)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
