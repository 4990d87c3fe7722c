"""Jobs through the API and a real Celery worker: hostile FMUs end with specific codes, the
worker runs the next job normally, cancellation kills the run, nothing is left behind."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

from execution.models import FINISHED_STATUSES, JobStatus, SimulationJob
from execution.tests.fixtures import instance_leftovers, make_version, sample_fmus, wait_for

JOBS = "/api/v1/jobs"
FIXTURES = sample_fmus  # shared fixtures (execution/tests/fixtures.py)
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def submit(client, version, **settings) -> str:
    response = client.post(JOBS, {"version_id": version.pk, **settings}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def finished(job_ids, timeout=60.0) -> dict[str, SimulationJob]:
    def fetch():
        return {str(job.pk): job for job in SimulationJob.objects.filter(pk__in=job_ids)}

    return wait_for(
        fetch, lambda jobs: all(job.status in FINISHED_STATUSES for job in jobs.values()), timeout
    )


def _descendants(pid: int) -> set[int]:
    found, stack = set(), [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text(encoding="utf-8").split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    stack.append(child)
    return found


def sandbox_leftovers(worker_pid: int) -> list[str]:
    """Files in the worker's sandbox instance dirs besides the FMU cache and idle zygote dirs."""
    root = Path(tempfile.gettempdir()) / f"fmu-sandbox-{os.geteuid()}"
    pids = _descendants(worker_pid) | {worker_pid}
    extra = []
    for instance in root.glob("*-sbx*"):
        if int(instance.name.split("-", 1)[0]) in pids:
            extra += instance_leftovers(instance)
    return extra


def test_hostile_fmus_fail_with_codes_and_the_worker_runs_the_next_job(
    celery_worker_process, user, user_client, sample_fmus, hostile_fmu
):
    good = make_version(user, sample_fmus[("mass_spring_damper", "2.0")].fmu_path)
    segfault = make_version(user, hostile_fmu("segfault"), version="0.0.1")
    loop = make_version(user, hostile_fmu("loop"), version="0.0.2")

    first = submit(user_client, good, stop_time=1.0)
    crash = submit(user_client, segfault, stop_time=1.0, timeout_seconds=5)
    hang = submit(user_client, loop, stop_time=1.0, timeout_seconds=2)
    after = [submit(user_client, good, stop_time=2.0) for _ in range(2)]
    started = time.monotonic()
    jobs = finished([first, crash, hang, *after], timeout=60)

    assert jobs[first].status == JobStatus.SUCCEEDED, jobs[first].error_message
    assert (jobs[crash].status, jobs[crash].error_code) == (JobStatus.FAILED, "fmu_crashed")
    assert "SIGSEGV" in jobs[crash].error_message
    assert (jobs[hang].status, jobs[hang].error_code) == (JobStatus.TIMED_OUT, "timeout")
    assert jobs[hang].wall_s < 4
    for job_id in after:
        assert jobs[job_id].status == JobStatus.SUCCEEDED, jobs[job_id].error_message
        assert jobs[job_id].result_rows > 0
    assert time.monotonic() - started < 30
    for job in jobs.values():
        assert "binaries" not in job.log + job.error_message
        assert good.artifact_key not in job.log + job.error_message
    assert sandbox_leftovers(celery_worker_process.pid) == []

    body = user_client.get(f"{JOBS}/{crash}").json()
    assert body["status"] == "failed" and body["error_code"] == "fmu_crashed"
    assert user_client.get(f"{JOBS}/{crash}/results").status_code == 409


def test_cancelling_a_running_job_kills_its_run(
    celery_worker_process, user, user_client, sample_fmus, hostile_fmu
):
    loop = make_version(user, hostile_fmu("loop"), version="0.0.3")
    good = make_version(user, sample_fmus[("bouncing_ball", "2.0")].fmu_path)
    hang = submit(user_client, loop, stop_time=1.0, timeout_seconds=60)
    wait_for(lambda: SimulationJob.objects.get(pk=hang).status, lambda s: s == "running", 30)
    time.sleep(0.3)
    cancelled_at = time.monotonic()
    response = user_client.post(f"{JOBS}/{hang}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"

    # the worker is free again within a moment: the next job runs at once
    next_job = submit(user_client, good, stop_time=1.0)
    jobs = finished([next_job], timeout=30)
    assert jobs[next_job].status == JobStatus.SUCCEEDED, jobs[next_job].error_message
    job = wait_for(
        lambda: SimulationJob.objects.get(pk=hang), lambda j: j.wall_s is not None, timeout=10
    )
    assert job.status == JobStatus.CANCELLED
    assert time.monotonic() - cancelled_at < 10
    assert job.wall_s < 10  # the run was killed, not left to its 60 s timeout


def test_a_waiting_get_answers_when_the_job_ends(
    celery_worker_process, user, other_user, user_client, hostile_fmu, django_assert_max_num_queries
):
    loop = make_version(user, hostile_fmu("loop"), version="0.0.4")
    job_id = submit(user_client, loop, stop_time=1.0, timeout_seconds=2)
    other = APIClient()
    other.force_authenticate(other_user)
    assert other.get(f"{JOBS}/{job_id}?wait=30").status_code == 404

    with django_assert_max_num_queries(10):  # woken by the worker, not polling the database
        body = user_client.get(f"{JOBS}/{job_id}?wait=30").json()

    assert body["status"] == "timed_out"  # held until the run hit its 2 s limit
    assert body["error_code"] == "timeout"


def test_cancelling_a_job_answers_its_waiting_get(
    celery_worker_process, user, user_client, hostile_fmu
):
    loop = make_version(user, hostile_fmu("loop"), version="0.0.5")
    job_id = submit(user_client, loop, stop_time=1.0, timeout_seconds=60)
    wait_for(lambda: SimulationJob.objects.get(pk=job_id).status, lambda s: s == "running", 30)
    answers = []

    def wait() -> None:
        client = APIClient()
        client.force_authenticate(user)
        try:
            answers.append(client.get(f"{JOBS}/{job_id}?wait=30").json())
        finally:
            connection.close()

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert user_client.post(f"{JOBS}/{job_id}/cancel").status_code == 200
    waiter.join()

    assert answers[0]["status"] == "cancelled"
