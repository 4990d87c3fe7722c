"""What a job gets from its model: a default timeout that fits the validation's smoke run, and
a clear refusal, before anything is queued, for an interface the runner cannot execute."""

from __future__ import annotations

import pytest

from execution.models import SimulationBatch, SimulationJob
from execution.tests.fixtures import make_version, sample_fmus, storage_dirs
from registry.models import PackageVersion
from registry.tests import fmu_builders as fb

JOBS = "/api/v1/jobs"
FIXTURES = (sample_fmus, storage_dirs)

pytestmark = pytest.mark.django_db


@pytest.fixture
def msd_version(user, sample_fmus, storage_dirs):
    return make_version(user, sample_fmus[("mass_spring_damper", "2.0")].fmu_path)


def submitted_timeout(client, version, **settings) -> int:
    response = client.post(JOBS, {"version_id": version.pk, **settings}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["settings"]["timeout_seconds"]


def test_a_model_whose_smoke_run_took_80_s_gets_a_default_timeout_above_it(
    user_client, msd_version, settings, django_capture_on_commit_callbacks
):
    settings.JOB_DEFAULT_TIMEOUT_SECONDS = 60
    PackageVersion.objects.filter(pk=msd_version.pk).update(smoke_run_seconds=80.2)

    with django_capture_on_commit_callbacks(execute=False):
        timeout = submitted_timeout(user_client, msd_version)

    assert timeout == 121  # 80.2 s with 50 % headroom, not the 60 s default
    job = SimulationJob.objects.get()
    assert job.timeout_seconds == 121


def test_a_quick_model_keeps_the_configured_default(
    user_client, msd_version, settings, django_capture_on_commit_callbacks
):
    settings.JOB_DEFAULT_TIMEOUT_SECONDS = 60
    PackageVersion.objects.filter(pk=msd_version.pk).update(smoke_run_seconds=0.05)

    with django_capture_on_commit_callbacks(execute=False):
        assert submitted_timeout(user_client, msd_version) == 60


@pytest.mark.parametrize(("platform_cap", "expected"), [(3600, 300), (200, 200)])
def test_the_default_timeout_is_capped_by_the_plan_and_the_platform(
    user_client, msd_version, settings, django_capture_on_commit_callbacks, platform_cap, expected
):
    # The free plan allows 300 s (pricing_tiers.json).
    settings.JOB_MAX_TIMEOUT_SECONDS = platform_cap
    PackageVersion.objects.filter(pk=msd_version.pk).update(smoke_run_seconds=1000.0)

    with django_capture_on_commit_callbacks(execute=False):
        assert submitted_timeout(user_client, msd_version) == expected


def test_an_explicit_timeout_is_kept(user_client, msd_version, django_capture_on_commit_callbacks):
    PackageVersion.objects.filter(pk=msd_version.pk).update(smoke_run_seconds=80.0)

    with django_capture_on_commit_callbacks(execute=False):
        assert submitted_timeout(user_client, msd_version, timeout_seconds=30) == 30


@pytest.fixture
def scheduled_only(user, tmp_path, storage_dirs):
    library = fb.compile_c(fb.CLEAN_FMI2_SOURCE, tmp_path / "model.so")
    path = fb.write_fmu(
        tmp_path / "se.fmu",
        {"binaries/x86_64-linux/model.so": library.read_bytes()},
        model_description=fb.SCHEDULED_ONLY,
    )
    return make_version(user, path)


def test_a_scheduled_execution_only_model_is_refused_before_queueing(
    user_client, scheduled_only, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(JOBS, {"version_id": scheduled_only.pk}, format="json")

    assert response.status_code == 422, response.json()
    body = response.json()
    assert body["code"] == "unsupported_interface"
    assert "Scheduled Execution" in body["detail"]
    assert "Model Exchange" not in body["detail"].split(";")[0]  # not a solver message
    assert not SimulationJob.objects.exists()
    assert callbacks == []


def test_a_scheduled_execution_only_sweep_is_refused_too(user_client, scheduled_only):
    response = user_client.post(
        "/api/v1/batches",
        {"version_id": scheduled_only.pk, "runs": [{"start_values": {}}]},
        format="json",
    )

    assert response.status_code == 422, response.json()
    assert response.json()["code"] == "unsupported_interface"
    assert not SimulationBatch.objects.exists()
