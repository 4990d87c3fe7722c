"""``GET /api/v1/batches/{id}?wait=N``: the sweep page's long-poll, like the job's."""

from __future__ import annotations

import threading
import time

import pytest

from execution.models import JobStatus, SimulationBatch
from execution.services.batches import count_finished_runs
from registry.factories import PackageVersionFactory

BATCHES = "/api/v1/batches"
SETTINGS = {
    "fmi_type": "CoSimulation",
    "start_time": 0.0,
    "stop_time": 1.0,
    "output_interval": None,
    "step_size": None,
    "solver": "CVode",
    "relative_tolerance": None,
    "start_values": {},
    "outputs": None,
    "timeout_seconds": 60,
}


def _batch(owner, **fields) -> SimulationBatch:
    version = PackageVersionFactory.create(package__owner=owner)
    return SimulationBatch.objects.create(
        owner=owner,
        version=version,
        sha256=version.sha256,
        runs_total=3,
        settings=SETTINGS,
        parameters=["k"],
        **fields,
    )


@pytest.mark.django_db
def test_batch_wait_is_validated_like_the_jobs_and_answers_at_its_deadline(user, user_client):
    batch = _batch(user, status=JobStatus.RUNNING)
    for bad in ("soon", "-1", "nan"):
        response = user_client.get(f"{BATCHES}/{batch.pk}?wait={bad}")
        assert response.status_code == 400, bad
        assert response.json()["code"] == "invalid_wait"
    refused = user_client.get(f"{BATCHES}/{batch.pk}?wait=3600.5")
    assert refused.status_code == 400 and refused.json()["fields"]["wait"][0]["code"] == (
        "out_of_range"
    )

    started = time.monotonic()
    response = user_client.get(f"{BATCHES}/{batch.pk}?wait=0.3")  # nobody runs it

    assert response.status_code == 200 and response.json()["status"] == "running"
    assert 0.25 <= time.monotonic() - started < 5


@pytest.mark.django_db
def test_batch_wait_for_someone_elses_batch_is_404_at_once(other_user, user_client):
    batch = _batch(other_user)
    started = time.monotonic()

    response = user_client.get(f"{BATCHES}/{batch.pk}?wait=20")

    assert response.status_code == 404 and time.monotonic() - started < 5


@pytest.mark.django_db(transaction=True)
def test_batch_wait_answers_as_soon_as_a_run_finishes(user, user_client):
    batch = _batch(user, status=JobStatus.RUNNING)
    worker = threading.Timer(
        0.5, count_finished_runs, args=(batch.pk,), kwargs={"succeeded": 1, "failed": 0}
    )
    worker.start()
    started = time.monotonic()
    try:
        response = user_client.get(f"{BATCHES}/{batch.pk}?wait=20")
    finally:
        worker.join()

    assert response.status_code == 200
    assert response.json()["runs_succeeded"] == 1 and response.json()["status"] == "running"
    assert time.monotonic() - started < 10  # woken, not held to the 20 s deadline
