"""Tasks run in a real Celery worker process on the Redis broker."""

import time

import pytest

from fmugateway.core.models import WorkerHeartbeat
from fmugateway.core.tasks import heartbeat, ping


def wait_for(probe, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_runs_a_task_and_returns_its_result(celery_worker_process):
    result = ping.delay("hello")

    assert result.get(timeout=30) == "pong:hello"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_heartbeat_task_in_the_worker_feeds_healthz(celery_worker_process, client):
    heartbeat.delay()

    beat = wait_for(lambda: WorkerHeartbeat.objects.first())
    assert beat.hostname.startswith("test-")
    assert beat.status["sandbox"]["isolated"] is True
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
