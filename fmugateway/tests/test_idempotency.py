"""POSTs with an Idempotency-Key run once; replays get the first answer."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from fmugateway.core.models import AuditEntry
from fmugateway.tests.urls_probe import IdempotentProbeView

URL = "/api/v1/test/idempotent"
pytestmark = pytest.mark.urls("fmugateway.tests.urls_probe")


def executions() -> int:
    return AuditEntry.objects.filter(action="test.probe").count()


@pytest.mark.django_db
def test_replay_returns_first_response_and_runs_once(user_client):
    first = user_client.post(URL, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="k1")
    second = user_client.post(URL, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="k1")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert executions() == 1


@pytest.mark.django_db
def test_same_key_with_other_body_is_refused(user_client):
    user_client.post(URL, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="k2")

    response = user_client.post(URL, {"amount": 6}, HTTP_IDEMPOTENCY_KEY="k2")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert executions() == 1


@pytest.mark.django_db
def test_keys_are_scoped_per_user(user_client, other_user):
    other = APIClient()
    other.force_authenticate(other_user)

    user_client.post(URL, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="shared")
    response = other.post(URL, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="shared")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert executions() == 2


@pytest.mark.django_db
def test_failed_validation_is_not_kept_so_a_fixed_retry_runs(user_client):
    bad = user_client.post(URL, {"amount": 0}, HTTP_IDEMPOTENCY_KEY="k3")
    assert bad.status_code == 400

    good = user_client.post(URL, {"amount": 0 + 1}, HTTP_IDEMPOTENCY_KEY="k3")

    assert good.status_code == 201
    assert executions() == 1


@pytest.mark.django_db
def test_overlong_key_is_rejected(user_client):
    response = user_client.post(URL, {"amount": 1}, HTTP_IDEMPOTENCY_KEY="x" * 300)

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_gets_409_while_first_runs(user):
    gate = threading.Event()
    IdempotentProbeView.gate = gate
    results = {}

    def first():
        client = APIClient()
        client.force_authenticate(user)
        results["first"] = client.post(URL, {"amount": 9}, HTTP_IDEMPOTENCY_KEY="race")
        connection.close()

    try:
        thread = threading.Thread(target=first)
        thread.start()
        # wait until the first request has claimed the key
        from fmugateway.core.models import IdempotencyRecord

        for _ in range(200):
            if IdempotencyRecord.objects.filter(key="race").exists():
                break
            threading.Event().wait(0.02)
        client = APIClient()
        client.force_authenticate(user)
        duplicate = client.post(URL, {"amount": 9}, HTTP_IDEMPOTENCY_KEY="race")
        gate.set()
        thread.join(10)
    finally:
        IdempotentProbeView.gate = None

    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "idempotency_in_progress"
    assert results["first"].status_code == 201
    assert executions() == 1


def test_an_idempotent_multipart_post_is_answered_not_a_500(user_client):
    body = {"stop_time": "1", "package": "no-such-package", "version": "1.0.0"}

    first = user_client.post(
        "/api/v1/jobs", body, format="multipart", HTTP_IDEMPOTENCY_KEY="multipart-1"
    )
    again = user_client.post(
        "/api/v1/jobs", body, format="multipart", HTTP_IDEMPOTENCY_KEY="multipart-1"
    )

    assert first.status_code == again.status_code == 404
    assert first.json()["code"] == "version_not_found"
