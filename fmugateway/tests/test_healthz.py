"""/healthz says which part is down, with a non-200 status when one is."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fmugateway.core.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def test_healthy_when_a_worker_heartbeat_is_recent(client):
    WorkerHeartbeat.objects.create(hostname="w1@host", seen_at=timezone.now())

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "storage", "worker"}
    assert body["checks"]["worker"]["hostname"] == "w1@host"


def test_unavailable_without_a_worker_heartbeat(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["worker"]["ok"] is False
    assert "no worker heartbeat" in body["checks"]["worker"]["error"]
    assert body["checks"]["database"]["ok"] is True


def test_unavailable_when_the_heartbeat_is_stale(client, settings):
    stale = timezone.now() - timedelta(seconds=settings.HEALTHZ_HEARTBEAT_MAX_AGE + 5)
    WorkerHeartbeat.objects.create(hostname="w1@host", seen_at=stale)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert "ago" in response.json()["checks"]["worker"]["error"]


def test_unavailable_when_the_broker_is_unreachable(client, settings):
    WorkerHeartbeat.objects.create(hostname="w1@host", seen_at=timezone.now())
    from fmugateway.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = original

    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


def test_unavailable_when_the_worker_cannot_isolate_fmus(client):
    WorkerHeartbeat.objects.create(
        hostname="w1@host",
        seen_at=timezone.now(),
        status={"sandbox": {"isolated": False, "usable": False, "detail": "no namespaces"}},
    )

    response = client.get("/healthz")

    assert response.status_code == 503
    assert "cannot run FMUs: no namespaces" in response.json()["checks"]["worker"]["error"]


def test_worker_status_is_shown(client):
    WorkerHeartbeat.objects.create(
        hostname="w1@host",
        seen_at=timezone.now(),
        status={"sandbox": {"isolated": True, "usable": True, "detail": "isolated"}},
    )

    body = client.get("/healthz").json()

    assert body["checks"]["worker"]["sandbox"]["isolated"] is True
