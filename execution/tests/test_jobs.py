"""Jobs through the API, run in-process (eager tasks): results, plots, access, reruns, credits."""

from __future__ import annotations

import time
from unittest import mock

import fmpy
import numpy as np
import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from execution.models import JobStatus, SimulationJob
from execution.services import EffectiveSettings
from execution.services import jobs as job_services
from execution.services.run_access import register_run_rule, unregister_run_rule
from execution.tests.fixtures import (
    eager_jobs,
    make_version,
    publish,
    run_eagerly,
    sample_fmus,
    storage_dirs,
)
from registry.access import may_download

JOBS = "/api/v1/jobs"
FIXTURES = (eager_jobs, sample_fmus, storage_dirs)  # shared fixtures (execution/tests/fixtures.py)


@pytest.fixture
def msd(sample_fmus):
    return sample_fmus[("mass_spring_damper", "2.0")]


@pytest.fixture
def msd_version(user, msd, storage_dirs):
    return make_version(user, msd.fmu_path)


def post_job(client, capture, version, **settings):
    with run_eagerly(capture):
        return client.post(JOBS, {"version_id": version.pk, **settings}, format="json")


@pytest.mark.django_db
def test_job_runs_and_matches_plain_fmpy(
    user_client, msd, msd_version, eager_jobs, django_capture_on_commit_callbacks
):
    settings = {"stop_time": 2.0, "output_interval": 0.01, "start_values": {"k": 3.0}}
    response = post_job(user_client, django_capture_on_commit_callbacks, msd_version, **settings)
    assert response.status_code == 201, response.json()
    job = SimulationJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.SUCCEEDED, (job.error_code, job.error_message)
    assert job.fmpy_version == fmpy.__version__
    assert job.cpu_s is not None and job.wall_s > 0 and job.peak_rss_mb > 0
    assert job.sha256 == msd_version.sha256

    body = user_client.get(f"{JOBS}/{job.pk}/results").json()
    effective = EffectiveSettings.from_job(job.settings, job.inputs)
    plain = fmpy.simulate_fmu(str(msd.fmu_path), **effective.fmpy_kwargs())
    assert list(body["columns"]) == list(plain.dtype.names)
    for name in plain.dtype.names:
        assert np.array_equal(np.asarray(body["columns"][name]), plain[name]), name
    assert body["units"]["time"] == "s"


@pytest.mark.django_db
def test_results_csv_link_is_signed_bound_to_its_user_and_expires(
    user_client, other_user, msd_version, eager_jobs, django_capture_on_commit_callbacks
):
    job_id = post_job(user_client, django_capture_on_commit_callbacks, msd_version).json()["id"]
    redirect = user_client.get(f"{JOBS}/{job_id}/results.csv")
    assert redirect.status_code == 302
    url = redirect["Location"]

    anonymous = APIClient().get(url)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    stranger = APIClient()
    stranger.force_authenticate(other_user)
    refused = stranger.get(url)
    assert refused.status_code == 403
    assert refused.json()["code"] == "result_link_not_yours"

    download = user_client.get(url)
    assert download.status_code == 200
    text = b"".join(download.streaming_content).decode()
    job = SimulationJob.objects.get(pk=job_id)
    assert text.splitlines()[0] == ",".join(job.result_columns)
    assert len(text.splitlines()) == job.result_rows + 1

    later = time.time() + 3600
    with mock.patch("django.core.signing.time.time", return_value=later):
        expired = user_client.get(url)
    assert expired.status_code == 410
    assert expired.json()["code"] == "result_link_expired"
    assert user_client.get(url[:-3] + "xyz").status_code == 404


@pytest.mark.django_db
def test_plot_png_and_svg_with_units(
    user_client, msd_version, eager_jobs, django_capture_on_commit_callbacks
):
    job_id = post_job(user_client, django_capture_on_commit_callbacks, msd_version).json()["id"]
    png = user_client.get(f"{JOBS}/{job_id}/plot")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = user_client.get(f"{JOBS}/{job_id}/plot", {"fmt": "svg", "variables": "x"})
    assert svg["Content-Type"] == "image/svg+xml"
    units = dict(SimulationJob.objects.get(pk=job_id).version.variables.values_list("name", "unit"))
    assert units["x"] and units["x"] in svg.content.decode()
    bad = user_client.get(f"{JOBS}/{job_id}/plot", {"variables": "nope"})
    assert bad.status_code == 400 and bad.json()["code"] == "unknown_variable"


@pytest.mark.django_db
def test_other_users_jobs_results_and_plots_are_404(
    user_client, other_user, msd_version, eager_jobs, django_capture_on_commit_callbacks
):
    job_id = post_job(user_client, django_capture_on_commit_callbacks, msd_version).json()["id"]
    other = APIClient()
    other.force_authenticate(other_user)
    for suffix in ("", "/results", "/results.csv", "/plot"):
        response = other.get(f"{JOBS}/{job_id}{suffix}")
        assert response.status_code == 404, suffix
    assert other.post(f"{JOBS}/{job_id}/cancel").status_code == 404
    assert other.post(f"{JOBS}/{job_id}/rerun").status_code == 404
    assert other.get(JOBS).json()["count"] == 0
    other.force_login(other_user)
    assert other.get(reverse("job-detail", kwargs={"pk": job_id})).status_code == 404


@pytest.mark.django_db
def test_rerun_gives_bit_identical_results(
    user_client, msd_version, eager_jobs, django_capture_on_commit_callbacks
):
    settings = {"stop_time": 1.5, "fmi_type": "ME", "solver": "CVode", "start_values": {"c": 0.3}}
    first = post_job(user_client, django_capture_on_commit_callbacks, msd_version, **settings)
    with run_eagerly(django_capture_on_commit_callbacks):
        second = user_client.post(f"{JOBS}/{first.json()['id']}/rerun")
    assert second.status_code == 201
    a = SimulationJob.objects.get(pk=first.json()["id"])
    b = SimulationJob.objects.get(pk=second.json()["id"])
    assert b.rerun_of_id == a.pk and b.settings == a.settings
    assert a.status == b.status == JobStatus.SUCCEEDED
    assert a.result_sha256 == b.result_sha256


@pytest.mark.django_db
def test_idempotency_key_replays_the_first_job(
    user_client, msd_version, eager_jobs, django_capture_on_commit_callbacks
):
    headers = {"HTTP_IDEMPOTENCY_KEY": "run-1"}
    with run_eagerly(django_capture_on_commit_callbacks):
        first = user_client.post(JOBS, {"version_id": msd_version.pk}, format="json", **headers)
        again = user_client.post(JOBS, {"version_id": msd_version.pk}, format="json", **headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert SimulationJob.objects.count() == 1


@pytest.mark.django_db
def test_credits_are_reserved_then_settled_from_usage(
    user, user_client, msd_version, eager_jobs, django_capture_on_commit_callbacks
):
    from billing.models import Reservation
    from billing.services import balance_of, get_account

    start = get_account(user).balance
    job_id = post_job(user_client, django_capture_on_commit_callbacks, msd_version).json()["id"]
    job = SimulationJob.objects.get(pk=job_id)
    reservation = Reservation.objects.get(pk=job.credit_reservation_id)
    assert reservation.status == Reservation.Status.SETTLED
    assert job.cost_credits == reservation.charged >= 1
    assert balance_of(user) == start - job.cost_credits


@pytest.mark.django_db
def test_insufficient_credits_is_402_and_creates_no_job(user, user_client, msd_version):
    from billing.services import adjust, get_account

    account = get_account(user)
    adjust(account, -account.balance, memo="test: empty the account", actor=None)
    response = user_client.post(JOBS, {"version_id": msd_version.pk}, format="json")
    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_credits"
    assert not SimulationJob.objects.exists()


@pytest.mark.django_db
def test_cancel_queued_job_releases_credits(user, user_client, msd_version):
    from billing.models import Reservation

    job_id = user_client.post(JOBS, {"version_id": msd_version.pk}, format="json").json()["id"]
    response = user_client.post(f"{JOBS}/{job_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    job = SimulationJob.objects.get(pk=job_id)
    assert Reservation.objects.get(pk=job.credit_reservation_id).status == "released"
    assert user_client.post(f"{JOBS}/{job_id}/cancel").status_code == 200  # idempotent
    # the task arriving later does nothing
    assert job_services.run_job(job_id) is None


@pytest.mark.django_db
def test_cancelling_a_finished_job_is_409(
    user_client, msd_version, eager_jobs, django_capture_on_commit_callbacks
):
    job_id = post_job(user_client, django_capture_on_commit_callbacks, msd_version).json()["id"]
    response = user_client.post(f"{JOBS}/{job_id}/cancel")
    assert response.status_code == 409 and response.json()["code"] == "job_finished"


@pytest.mark.django_db
def test_results_of_unfinished_job_are_409(user_client, msd_version):
    job_id = user_client.post(JOBS, {"version_id": msd_version.pk}, format="json").json()["id"]
    response = user_client.get(f"{JOBS}/{job_id}/results")
    assert response.status_code == 409 and response.json()["code"] == "job_not_finished"


@pytest.mark.django_db
def test_waiting_get_validates_wait_and_answers_at_its_deadline(user_client, msd_version):
    job_id = user_client.post(JOBS, {"version_id": msd_version.pk}, format="json").json()["id"]
    for bad in ("soon", "-1", "nan", "inf"):
        response = user_client.get(f"{JOBS}/{job_id}?wait={bad}")
        assert response.status_code == 400, bad
        assert response.json()["code"] == "invalid_wait"
        assert response.json()["fields"]["wait"][0]["code"] == "invalid_number"

    response = user_client.get(f"{JOBS}/{job_id}?wait=0.2")  # nobody runs it: still queued

    assert response.status_code == 200 and response.json()["status"] == "queued"


@pytest.mark.django_db
def test_a_wait_over_an_hour_is_400_and_an_hour_is_cut_to_the_setting(
    user_client, msd_version, settings
):
    job_id = user_client.post(JOBS, {"version_id": msd_version.pk}, format="json").json()["id"]
    refused = user_client.get(f"{JOBS}/{job_id}?wait=3600.5")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_wait"
    assert refused.json()["fields"]["wait"][0]["code"] == "out_of_range"

    settings.JOB_WAIT_MAX_SECONDS = 0
    started = time.monotonic()
    response = user_client.get(f"{JOBS}/{job_id}?wait=3600")

    assert response.status_code == 200 and response.json()["status"] == "queued"
    assert time.monotonic() - started < 5


@pytest.mark.django_db
def test_waiting_get_answers_at_once_when_redis_is_unreachable(user_client, msd_version, settings):
    job_id = user_client.post(JOBS, {"version_id": msd_version.pk}, format="json").json()["id"]
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = user_client.get(f"{JOBS}/{job_id}?wait=30")

    assert response.status_code == 200 and response.json()["status"] == "queued"


@pytest.mark.django_db
def test_job_never_exposes_the_fmu(
    user_client, msd, msd_version, eager_jobs, django_capture_on_commit_callbacks
):
    job_id = post_job(user_client, django_capture_on_commit_callbacks, msd_version).json()["id"]
    texts = [
        user_client.get(f"{JOBS}/{job_id}").content,
        user_client.get(f"{JOBS}/{job_id}/results").content,
        user_client.get(JOBS).content,
    ]
    fmu_bytes = msd.fmu_path.read_bytes()
    job = SimulationJob.objects.get(pk=job_id)
    stored = eager_jobs["artifacts"]
    for text in texts:
        assert msd_version.artifact_key.encode() not in text
        assert str(stored).encode() not in text
        assert b"binaries/" not in text and b".so" not in text
        assert fmu_bytes[100:164] not in text
    assert "binaries" not in job.log and str(stored) not in job.log
    assert not any(key.endswith(".fmu") for key in (job.result_npy_key, job.result_csv_key))


@pytest.mark.django_db
def test_execute_only_buyer_may_run_but_not_download(
    user, other_user, msd, storage_dirs, eager_jobs, django_capture_on_commit_callbacks
):
    version = publish(make_version(user, msd.fmu_path), free=False)

    def entitled(candidate, target):
        return candidate.pk == other_user.pk and target.pk == version.pk

    client = APIClient()
    client.force_authenticate(other_user)
    assert client.post(JOBS, {"version_id": version.pk}, format="json").status_code == 403
    register_run_rule(entitled)
    try:
        response = post_job(client, django_capture_on_commit_callbacks, version)
        assert response.status_code == 201
        job = SimulationJob.objects.get(pk=response.json()["id"])
        assert job.status == JobStatus.SUCCEEDED
        assert not may_download(other_user, version)
        url = f"/api/v1/packages/{version.package.slug}/versions/{version.version}/download-url"
        assert client.post(url).status_code == 403
    finally:
        unregister_run_rule(entitled)


@pytest.mark.django_db
def test_others_may_run_published_free_models_only(user, other_user, msd, storage_dirs):
    version = make_version(user, msd.fmu_path)
    client = APIClient()
    client.force_authenticate(other_user)
    # unpublished: not even visible
    assert client.post(JOBS, {"version_id": version.pk}, format="json").status_code == 404
    publish(version, free=True)
    assert client.post(JOBS, {"version_id": version.pk}, format="json").status_code == 201


@pytest.mark.django_db
def test_job_list_is_mine_filterable_and_bounded_in_queries(
    user, user_client, msd_version, django_assert_max_num_queries
):
    for _ in range(3):
        user_client.post(JOBS, {"version_id": msd_version.pk}, format="json")
    SimulationJob.objects.filter(pk=SimulationJob.objects.first().pk).update(
        status=JobStatus.FAILED
    )
    with django_assert_max_num_queries(6):
        listing = user_client.get(JOBS).json()
    assert listing["count"] == 3
    assert user_client.get(JOBS, {"status": "failed"}).json()["count"] == 1
    assert user_client.get(JOBS, {"package": msd_version.package.slug}).json()["count"] == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=bogus", "status"),
        ("version_id=99999999999999999999", "version_id"),
        ("version_id=abc", "version_id"),
        ("batch=not-a-uuid", "batch"),
    ],
)
def test_job_list_filters_outside_their_documented_values_are_400(user_client, query, field):
    response = user_client.get(f"{JOBS}?{query}")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and field in response.json()["fields"]


@pytest.mark.django_db
def test_job_pages_render(
    client, user, msd_version, eager_jobs, django_capture_on_commit_callbacks
):
    api = APIClient()
    api.force_authenticate(user)
    job_id = post_job(api, django_capture_on_commit_callbacks, msd_version).json()["id"]
    queued_id = api.post(JOBS, {"version_id": msd_version.pk}, format="json").json()["id"]
    client.force_login(user)
    listing = client.get(reverse("job-list"))
    assert listing.status_code == 200 and job_id[:8] in listing.content.decode()
    page = client.get(reverse("job-detail", kwargs={"pk": job_id})).content.decode()
    assert "Succeeded" in page and f"/api/v1/jobs/{job_id}/plot" in page
    assert 'http-equiv="refresh"' not in page
    queued = client.get(reverse("job-detail", kwargs={"pk": queued_id})).content.decode()
    assert 'http-equiv="refresh"' in queued


@pytest.mark.django_db
def test_lost_worker_job_is_requeued_once_then_failed(
    user, msd_version, settings, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from billing.models import Reservation

    job = job_services.submit_job(user, msd_version, {"timeout_seconds": 5})
    _token, claimed = job_services.claim([str(job.pk)])
    assert claimed == 1
    later = timezone.now() + timedelta(seconds=5 + settings.JOB_RECOVERY_GRACE_SECONDS + 1)
    with (
        mock.patch("execution.tasks.run_job_task.apply_async") as dispatched,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert job_services.recover_lost_jobs(now=later) == {"requeued": 1, "failed": 0}
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and dispatched.called

    job_services.claim([str(job.pk)])  # the second attempt's worker dies as well
    later = timezone.now() + timedelta(seconds=5 + settings.JOB_RECOVERY_GRACE_SECONDS + 1)
    assert job_services.recover_lost_jobs(now=later) == {"requeued": 0, "failed": 1}
    job.refresh_from_db()
    assert (job.status, job.error_code, job.attempts) == (JobStatus.FAILED, "worker_lost", 2)
    assert Reservation.objects.get(pk=job.credit_reservation_id).status == "released"


@pytest.mark.django_db
def test_a_redelivered_task_resumes_a_job_whose_worker_died(user, msd_version, eager_jobs):
    job = job_services.submit_job(user, msd_version, {})
    job_services.claim([str(job.pk)])  # attempt 1 claimed it, then its process died
    finished = job_services.run_job(str(job.pk))
    assert finished is not None and finished.status == JobStatus.SUCCEEDED
    assert finished.attempts == 2
