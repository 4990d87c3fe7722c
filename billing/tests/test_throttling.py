"""Rate limits: per account at the plan's rate, per IP without credentials; 429 + Retry-After."""

import pytest
from rest_framework.test import APIClient

from billing.services import plans
from fmugateway.core.ratelimit import parse_rate

pytestmark = pytest.mark.django_db


def test_account_is_throttled_at_its_plan_rate_with_retry_after(user, key_client):
    plans.change_plan(user, "free", rate_limit_per_minute_override=3)

    statuses = [key_client.get("/api/v1/billing/ledger").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = key_client.get("/api/v1/billing/ledger")
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60


@pytest.mark.urls("billing.tests.urls")
def test_views_without_the_account_limit_do_not_use_up_the_accounts_rate(user, key_client):
    # Given an account allowed one request a minute
    plans.change_plan(user, "free", rate_limit_per_minute_override=1)

    # When its key calls a view that has no per-account limit, several times
    for _ in range(3):
        assert key_client.get("/api/v1/test/unthrottled").status_code == 200

    # Then its one request on a rate-limited view is still available
    assert key_client.get("/api/v1/billing/ledger").status_code == 200
    assert key_client.get("/api/v1/billing/ledger").status_code == 429


def test_accounts_are_counted_separately(user, other_user, key_client):
    plans.change_plan(user, "free", rate_limit_per_minute_override=1)
    other = APIClient()
    other.force_authenticate(other_user)

    key_client.get("/api/v1/billing/ledger")

    assert key_client.get("/api/v1/billing/ledger").status_code == 429
    assert other.get("/api/v1/billing/ledger").status_code == 200


def test_a_better_plan_gets_a_higher_rate(user, key_client):
    plans.change_plan(user, "free", rate_limit_per_minute_override=1)
    key_client.get("/api/v1/billing/ledger")
    assert key_client.get("/api/v1/billing/ledger").status_code == 429

    plans.change_plan(user, "pro", rate_limit_per_minute_override=None)

    assert key_client.get("/api/v1/billing/ledger").status_code == 200


def test_anonymous_requests_are_throttled_per_ip(settings):
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {"anon": "2/min"}
    settings.REST_FRAMEWORK = rest
    client = APIClient(REMOTE_ADDR="198.51.100.77")

    statuses = [client.get("/api/v1/billing/plans").status_code for _ in range(3)]
    elsewhere = APIClient(REMOTE_ADDR="198.51.100.78").get("/api/v1/billing/plans")

    assert statuses == [200, 200, 429]
    assert elsewhere.status_code == 200


def test_rates_parse():
    assert parse_rate("300/min") == (300, 60)
    assert parse_rate("5/s") == (5, 1)
    assert parse_rate(None) is None
    with pytest.raises(ValueError):
        parse_rate("lots")
