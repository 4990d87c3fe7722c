"""Runs paid by a license's run quota (execute-only SKUs) instead of credits."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from billing.services import balance_of
from execution.models import JobStatus, SimulationJob
from execution.tests.fixtures import (
    eager_jobs,
    make_version,
    publish,
    run_eagerly,
    sample_fmus,
    storage_dirs,
)
from licensing.models import License
from marketplace.factories import CreatorFactory, ListingFactory
from marketplace.services import orders

JOBS = "/api/v1/jobs"
FIXTURES = (eager_jobs, sample_fmus, storage_dirs)


@pytest.fixture
def paid_version(sample_fmus, storage_dirs):
    creator = CreatorFactory()
    version = make_version(creator.user, sample_fmus[("mass_spring_damper", "2.0")].fmu_path)
    return publish(version, free=False)


def buy_execute_only(buyer, version, runs: int) -> License:
    listing = ListingFactory.create(
        package=version.package, execute_only=True, run_quota=runs, free=True
    )
    orders.add_to_cart(buyer, listing.pk)
    orders.checkout(buyer)
    return License.objects.get(owner=buyer, listing=listing)


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
def test_execute_only_run_takes_one_run_and_no_credits(
    other_user, paid_version, eager_jobs, django_capture_on_commit_callbacks
):
    license = buy_execute_only(other_user, paid_version, runs=3)
    credits_before = balance_of(other_user)

    with run_eagerly(django_capture_on_commit_callbacks):
        response = client_for(other_user).post(
            JOBS, {"version_id": paid_version.pk, "stop_time": 1.0}, format="json"
        )

    assert response.status_code == 201, response.json()
    job = SimulationJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.SUCCEEDED
    assert job.license_id == license.pk
    assert job.cost_credits == 0
    license.refresh_from_db()
    assert license.runs_remaining == 2
    assert balance_of(other_user) == credits_before


@pytest.mark.django_db
def test_exhausted_quota_is_402_and_creates_no_job(
    other_user, paid_version, eager_jobs, django_capture_on_commit_callbacks
):
    buy_execute_only(other_user, paid_version, runs=1)
    client = client_for(other_user)
    with run_eagerly(django_capture_on_commit_callbacks):
        first = client.post(JOBS, {"version_id": paid_version.pk, "stop_time": 0.5}, format="json")
        second = client.post(JOBS, {"version_id": paid_version.pk, "stop_time": 0.5}, format="json")

    assert first.status_code == 201
    assert second.status_code == 402
    assert second.json()["code"] == "run_quota_exhausted"
    assert SimulationJob.objects.filter(owner=other_user).count() == 1


@pytest.mark.django_db
def test_without_a_license_a_paid_model_cannot_run(other_user, paid_version):
    response = client_for(other_user).post(
        JOBS, {"version_id": paid_version.pk, "stop_time": 0.5}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "run_forbidden"


@pytest.mark.django_db
def test_cancelling_a_queued_job_gives_the_run_back(other_user, paid_version):
    license = buy_execute_only(other_user, paid_version, runs=2)
    client = client_for(other_user)
    job_id = client.post(
        JOBS, {"version_id": paid_version.pk, "stop_time": 0.5}, format="json"
    ).json()["id"]  # not run: on_commit callbacks are not executed here
    license.refresh_from_db()
    assert license.runs_remaining == 1

    response = client.post(f"{JOBS}/{job_id}/cancel")

    assert response.status_code == 200
    license.refresh_from_db()
    assert license.runs_remaining == 2


@pytest.mark.django_db
def test_execute_only_license_never_yields_the_fmu_file(other_user, paid_version):
    buy_execute_only(other_user, paid_version, runs=5)
    client = client_for(other_user)
    base = f"/api/v1/packages/{paid_version.package.slug}/versions/{paid_version.version}"

    response = client.post(f"{base}/download-url")

    assert response.status_code == 403
    assert response.json()["code"] == "download_forbidden"
