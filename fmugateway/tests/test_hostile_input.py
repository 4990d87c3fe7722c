"""Hostile and malformed requests get a 4xx in the JSON error format, never a 500 or HTML.

Bodies too large (413 ``payload_too_large``), JSON nested thousands deep (400
``malformed_json``), NUL characters that PostgreSQL cannot store (400 ``invalid`` naming the
field), unknown routes with any method or a newline in the path (JSON 404), a bad Host.
The guarantees are checked on the endpoints where they were found and by walking every
operation.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.factories import UserFactory
from billing.models import AccountPlan
from fmugateway.core.routes import api_operations
from marketplace.factories import ListingFactory
from marketplace.models import Listing
from marketplace.tests.fixtures import issue

pytestmark = pytest.mark.django_db

NUL = "a\u0000b"


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
def session(db) -> APIClient:
    user = UserFactory.create()
    AccountPlan.objects.create(user=user, plan="free", rate_limit_per_minute_override=1_000_000)
    client = APIClient()
    client.force_login(user)
    client.user = user  # type: ignore[attr-defined]  # the signed-in user, for the tests
    return client


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [100, 100_000])
def test_json_nested_deep_is_malformed_json(session, depth):
    response = session.generic("POST", "/api/v1/jobs", _deep(depth), "application/json")

    assert_json_error(response, 400, "malformed_json")


def test_a_json_body_over_the_limit_is_413(session, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"package": "x", "version": "1", "start_values": {"p": "y" * 2000}})

    response = session.generic("POST", "/api/v1/jobs", body, "application/json")

    assert_json_error(response, 413, "payload_too_large")


def test_a_form_body_over_the_limit_is_413(session, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = "package=" + "y" * 5000

    response = session.generic("POST", "/api/v1/jobs", body, "application/x-www-form-urlencoded")

    assert_json_error(response, 413, "payload_too_large")


def test_a_multipart_field_over_the_limit_is_413(session, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = session.post("/api/v1/jobs", {"start_values": "y" * 5000}, format="multipart")

    assert_json_error(response, 413, "payload_too_large")


def test_an_idempotent_post_over_the_limit_is_413(session, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = session.generic(
        "POST",
        "/api/v1/jobs",
        json.dumps({"x": "y" * 5000}),
        "application/json",
        HTTP_IDEMPOTENCY_KEY="abc",
    )

    assert_json_error(response, 413, "payload_too_large")


def test_json_that_is_not_json_is_malformed_json(session):
    for text in ("{not json", '{"a": NaN}', b"\xff\xfe{}"):
        response = session.generic("POST", "/api/v1/jobs", text, "application/json")
        assert_json_error(response, 400, "malformed_json")


@pytest.fixture
def org_license(session):
    listing = ListingFactory(kind=Listing.Kind.ORG, price_amount=99000)
    return issue(session.user, listing).license


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/jobs", {"package": NUL, "version": "1.0"}, "package"),
        ("/api/v1/batches", {"package": "x", "version": "1", "grid": {NUL: [1]}}, "grid"),
        ("/api/v1/orgs", {"name": NUL}, "name"),
        ("/api/v1/dmca/complaints", {"package": "x", "complainant_name": NUL}, None),
        ("/api/v1/jobs", {"start_values": {"k": [NUL]}}, "start_values.k.0"),
    ],
)
def test_nul_characters_are_refused_naming_the_field(session, path, body, field):
    response = session.post(path, body, format="json")

    fields = assert_json_error(response, 400, "invalid")["fields"]
    name = field or "complainant_name"
    assert fields[name][0]["code"] == "null_characters_not_allowed"


def test_nul_in_a_license_organisation_is_refused(session, org_license):
    response = session.post(
        f"/api/v1/licenses/{org_license.pk}/organisation", {"organisation": NUL}, format="json"
    )

    fields = assert_json_error(response, 400, "invalid")["fields"]
    assert fields["organisation"][0]["code"] == "null_characters_not_allowed"


def test_nul_in_form_fields_is_refused(session):
    response = session.post("/api/v1/jobs", {"package": NUL}, format="multipart")

    fields = assert_json_error(response, 400, "invalid")["fields"]
    assert fields["package"][0]["code"] == "null_characters_not_allowed"


def test_operations_without_files_take_json_only(session):
    response = session.post("/api/v1/orgs", {"name": "Acme"}, format="multipart")

    assert_json_error(response, 415, "unsupported_media_type")


def test_nul_in_the_query_string_or_path_is_refused(session):
    query = session.get("/api/v1/jobs", {"package": NUL})
    path = session.get("/api/v1/packages/x/versions/1%00")

    assert assert_json_error(query, 400, "invalid")["fields"]["package"]
    assert assert_json_error(path, 400, "invalid")["fields"]["path"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "GET"])
def test_unknown_routes_answer_json_404_whatever_the_method(method):
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)  # a browser session without a CSRF token
    client.force_login(user)

    response = client.generic(method, "/api/v1/no/such/route", "{}", "application/json")

    assert_json_error(response, 404, "not_found")


@pytest.mark.parametrize("path", ["/api/v1/jobs%0a", "/api/v1/a%0ab", "/api/v1/%0a%0d"])
def test_paths_with_a_newline_answer_json_404(path, settings):
    settings.DEBUG = True  # Django's technical 404 page is HTML

    response = Client().post(path, "{}", content_type="application/json")

    assert_json_error(response, 404, "not_found")


def test_a_bad_host_header_is_json_400(settings):
    settings.ALLOWED_HOSTS = ["good.example"]

    response = Client(HTTP_HOST="evil.example").get("/api/v1/jobs")

    assert_json_error(response, 400, "bad_request")


HOSTILE_BODIES = {
    "deep": (_deep(50_000), "application/json"),
    "nul": (json.dumps({"name": NUL, "package": NUL, "email": NUL}), "application/json"),
    "not an object": ("[1, 2, 3]", "application/json"),
    "big": (json.dumps({"name": "y" * 3000}), "application/json"),
    "bad multipart": ("--x\r\nnonsense", "multipart/form-data; boundary=x"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_BODIES))
def test_no_operation_answers_a_hostile_body_with_a_server_error(session, settings, kind):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    body, content_type = HOSTILE_BODIES[kind]
    failures = []
    for operation in api_operations():
        if operation.method == "GET":
            continue
        response = session.generic(operation.method, operation.path, body, content_type)
        ok = 400 <= response.status_code < 500 or response.status_code in (200, 201, 204)
        if response.status_code == 503:  # no Stripe keys here: payments_unavailable is right
            ok = response.json()["code"] == "payments_unavailable"
        if not ok or not response["Content-Type"].startswith("application/json"):
            failures.append(f"{operation}: {response.status_code}")
    assert not failures, failures
