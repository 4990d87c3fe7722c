"""Parameter sweeps: fan-out, per-run results, the summary table and plot, access, credits."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from execution import results
from execution.models import JobStatus, SimulationBatch, SimulationJob
from execution.services.batches import summary_table
from execution.tests.fixtures import (
    eager_jobs,
    make_version,
    run_eagerly,
    sample_fmus,
    storage_dirs,
    wait_for,
)

BATCHES = "/api/v1/batches"
FIXTURES = (eager_jobs, sample_fmus, storage_dirs)  # shared fixtures (execution/tests/fixtures.py)


@pytest.fixture
def msd_path(sample_fmus):
    return sample_fmus[("mass_spring_damper", "2.0")].fmu_path


def post_batch(client, capture, version, **body):
    with run_eagerly(capture):
        return client.post(BATCHES, {"version_id": version.pk, **body}, format="json")


@pytest.mark.django_db
def test_grid_sweep_runs_every_combination_and_summarises(
    user, user_client, msd_path, eager_jobs, django_capture_on_commit_callbacks, settings
):
    settings.SWEEP_CHUNK_SIZE = 4
    version = make_version(user, msd_path)
    response = post_batch(
        user_client,
        django_capture_on_commit_callbacks,
        version,
        stop_time=1.0,
        outputs=["x", "v"],
        grid={"k": [1, 2, 4], "c": [0.1, 0.5]},
    )
    assert response.status_code == 201, response.json()
    batch = SimulationBatch.objects.get(pk=response.json()["id"])
    assert (batch.status, batch.runs_total, batch.runs_succeeded) == (JobStatus.SUCCEEDED, 6, 6)
    assert batch.parameters == ["k", "c"]

    body = user_client.get(f"{BATCHES}/{batch.pk}").json()
    assert body["progress"] == 1.0
    header, rows = body["summary"]["columns"], body["summary"]["rows"]
    assert header[:5] == ["run", "status", "error_code", "k", "c"]
    assert "x.final" in header and "v.max" in header
    assert [(row[3], row[4]) for row in rows] == [
        (1.0, 0.1), (1.0, 0.5), (2.0, 0.1), (2.0, 0.5), (4.0, 0.1), (4.0, 0.5)
    ]  # fmt: skip
    # each run's own result agrees with its summary row
    run = SimulationJob.objects.get(batch=batch, batch_index=3)
    array = results.load_array(run.result_npy_key)
    assert rows[3][header.index("x.final")] == float(array["x"][-1])
    assert rows[3][header.index("v.min")] == float(np.min(array["v"]))
    assert run.settings["start_values"] == {"k": 2.0, "c": 0.5}
    run_results = user_client.get(f"/api/v1/jobs/{run.pk}/results").json()
    assert run_results["rows"] == len(array)

    csv_response = user_client.get(body["summary_csv_url"])
    parsed = list(csv.reader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    assert parsed[0] == header and len(parsed) == 7
    listing = user_client.get("/api/v1/jobs", {"batch": str(batch.pk)}).json()
    assert listing["count"] == 6

    plot = user_client.get(f"{BATCHES}/{batch.pk}/plot", {"fmt": "svg"})
    assert plot.status_code == 200 and plot["Content-Type"] == "image/svg+xml"


@pytest.mark.django_db
def test_list_sweep_and_a_failing_run(
    user, user_client, msd_path, eager_jobs, django_capture_on_commit_callbacks
):
    version = make_version(user, msd_path)
    response = post_batch(
        user_client,
        django_capture_on_commit_callbacks,
        version,
        stop_time=0.5,
        runs=[{"k": 1.0}, {"m": 2.0, "k": 3.0}],
    )
    assert response.status_code == 201, response.json()
    batch = SimulationBatch.objects.get(pk=response.json()["id"])
    assert batch.runs_succeeded == 2 and batch.parameters == ["k", "m"]
    header, rows, _ = summary_table(batch)
    assert rows[0][header.index("m")] is None and rows[1][header.index("m")] == 2.0


@pytest.mark.django_db
def test_bad_run_values_are_400_per_run(user, user_client, msd_path, storage_dirs):
    version = make_version(user, msd_path)
    response = user_client.post(
        BATCHES, {"version_id": version.pk, "runs": [{"k": 1}, {"k": "soft"}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["fields"]["runs.1"][0]["code"] == "wrong_type"
    response = user_client.post(
        BATCHES, {"version_id": version.pk, "grid": {"a": [1]}}, format="json"
    )
    assert response.json()["fields"]["grid.a"][0]["code"] == "not_settable"
    assert not SimulationBatch.objects.exists()


@pytest.mark.django_db
def test_plan_caps_the_sweep_size(user, user_client, msd_path, storage_dirs):
    from billing.services import change_plan

    version = make_version(user, msd_path)
    grid = {"k": list(range(1, 21))}  # 20 runs: more than Free's max_sweep_size
    response = user_client.post(BATCHES, {"version_id": version.pk, "grid": grid}, format="json")
    assert response.json()["fields"]["grid"][0]["code"] == "too_many_runs"
    change_plan(user, "pro")
    response = user_client.post(BATCHES, {"version_id": version.pk, "grid": grid}, format="json")
    assert response.status_code == 201
    assert SimulationBatch.objects.get().runs_total == 20


@pytest.mark.django_db
def test_other_users_batches_are_404(user, user_client, other_user, msd_path, storage_dirs):
    version = make_version(user, msd_path)
    batch_id = user_client.post(
        BATCHES, {"version_id": version.pk, "grid": {"k": [1, 2]}}, format="json"
    ).json()["id"]
    other = APIClient()
    other.force_authenticate(other_user)
    for suffix in ("", "/summary.csv", "/plot"):
        assert other.get(f"{BATCHES}/{batch_id}{suffix}").status_code == 404
    assert other.post(f"{BATCHES}/{batch_id}/cancel").status_code == 404
    other.force_login(other_user)
    assert other.get(reverse("batch-detail", kwargs={"pk": batch_id})).status_code == 404


@pytest.mark.django_db
def test_cancelling_a_queued_batch_releases_its_credits(user, user_client, msd_path, storage_dirs):
    from billing.models import Reservation

    version = make_version(user, msd_path)
    batch_id = user_client.post(
        BATCHES, {"version_id": version.pk, "grid": {"k": [1, 2, 3]}}, format="json"
    ).json()["id"]
    response = user_client.post(f"{BATCHES}/{batch_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    batch = SimulationBatch.objects.get(pk=batch_id)
    assert batch.runs_failed == 3 and batch.summary_csv_key
    assert Reservation.objects.get(pk=batch.credit_reservation_id).status == "released"
    assert set(batch.runs.values_list("status", flat=True)) == {"cancelled"}


@pytest.mark.django_db
def test_batch_credits_are_settled_once_from_the_runs_usage(
    user, user_client, msd_path, eager_jobs, django_capture_on_commit_callbacks
):
    from billing.models import Reservation

    version = make_version(user, msd_path)
    batch_id = post_batch(
        user_client, django_capture_on_commit_callbacks, version, grid={"k": [1, 2, 3]}
    ).json()["id"]
    batch = SimulationBatch.objects.get(pk=batch_id)
    reservation = Reservation.objects.get(pk=batch.credit_reservation_id)
    assert reservation.status == "settled"
    assert batch.cost_credits == reservation.charged >= 3  # at least one credit per run


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_batch_fans_out_over_the_real_worker(celery_worker_process, user, user_client, msd_path):
    from billing.services import change_plan

    change_plan(user, "pro")
    version = make_version(user, msd_path)
    response = user_client.post(
        BATCHES,
        {"version_id": version.pk, "stop_time": 1.0, "grid": {"k": [1, 2, 3, 4, 5], "c": [0, 1]}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    batch = wait_for(
        lambda: SimulationBatch.objects.get(pk=response.json()["id"]),
        lambda b: b.finished,
        timeout=60,
    )
    assert (batch.status, batch.runs_succeeded, batch.runs_failed) == ("succeeded", 10, 0)
    assert len(batch.runs.values("worker").distinct()) >= 1
    body = user_client.get(f"{BATCHES}/{batch.pk}").json()
    assert len(body["summary"]["rows"]) == 10
