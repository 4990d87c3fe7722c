"""Results decimated for display (``GET /jobs/{id}/results?max_points=``) and the job page's
interactive plot: its configuration, the runs it offers to compare, the server-rendered
fallback. Downloads are never decimated."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from unittest import mock

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from execution import plots, results
from execution.models import JobStatus, SimulationBatch, SimulationJob
from execution.tests.fixtures import storage_dirs
from fmugateway.core import checks
from registry.factories import PackageVersionFactory
from registry.models import PackageVersion, Variable

pytestmark = pytest.mark.django_db
FIXTURES = (storage_dirs,)
JOBS = "/api/v1/jobs"


def ball_version(owner) -> PackageVersion:
    """A version whose catalog gives the result's variables their units."""
    version = PackageVersionFactory.create(package__owner=owner)
    for reference, (name, unit) in enumerate((("h", "m"), ("v", "m/s"), ("flag", ""))):
        Variable.objects.create(
            version=version, name=name, value_reference=reference, type="Real", unit=unit
        )
    return version


def ball_result(rows: int, *, spike_at: int | None = None) -> np.ndarray:
    array = np.zeros(rows, dtype=[("time", "f8"), ("h", "f8"), ("v", "f8"), ("flag", "f8")])
    array["time"] = np.linspace(0.0, 3.0, rows)
    array["h"] = np.abs(np.cos(array["time"] * 2.0))
    array["v"] = -np.sin(array["time"] * 2.0)
    if spike_at is not None:
        array["h"][spike_at] = 42.0
    return array


def finished_job(
    owner, version, array: np.ndarray, *, with_csv: bool = True, **fields
) -> SimulationJob:
    """What the worker leaves after a successful run: the stored result and its facts (without
    ``with_csv``, as a sweep's run: the CSV is written on first request)."""
    job = SimulationJob.objects.create(
        owner=owner,
        version=version,
        sha256=version.sha256,
        status=JobStatus.SUCCEEDED,
        settings={"stop_time": 3.0, "start_values": {"h": 1.0}},
        finished_at=timezone.now(),
        **fields,
    )
    stored = results.store_result(f"jobs/{job.pk}", array, with_csv=with_csv)
    SimulationJob.objects.filter(pk=job.pk).update(
        result_npy_key=stored.npy_key,
        result_csv_key=stored.csv_key,
        result_sha256=stored.sha256,
        result_rows=stored.rows,
        result_columns=stored.columns,
        result_stats=results.column_stats(array),
    )
    job.refresh_from_db()
    return job


# --- the API -----------------------------------------------------------------------------------


def test_display_results_keep_the_peak_and_the_ends_within_max_points(user, user_client):
    array = ball_result(50_001, spike_at=31_337)
    job = finished_job(user, ball_version(user), array)

    body = user_client.get(f"{JOBS}/{job.pk}/results?columns=h,v&max_points=500").json()

    assert body["rows"] == 50_001 and body["decimated"] is True
    assert body["points"] == len(body["columns"]["time"]) <= 500
    assert list(body["columns"]) == ["time", "h", "v"]
    assert body["units"] == {"time": "s", "h": "m", "v": "m/s"}
    assert max(body["columns"]["h"]) == 42.0
    assert body["columns"]["time"][0] == 0.0 and body["columns"]["time"][-1] == 3.0
    assert body["columns"]["v"][-1] == array["v"][-1]


def test_a_small_result_is_the_same_with_or_without_max_points(user, user_client):
    job = finished_job(user, ball_version(user), ball_result(301))

    full = user_client.get(f"{JOBS}/{job.pk}/results").json()
    shown = user_client.get(f"{JOBS}/{job.pk}/results?max_points=2000").json()

    assert shown["columns"] == full["columns"]
    assert shown["decimated"] is False and shown["points"] == shown["rows"] == 301
    assert full["decimated"] is False and full["points"] == 301


def test_the_csv_download_has_every_row_whatever_the_display_asks(user, user_client):
    job = finished_job(user, ball_version(user), ball_result(5_000, spike_at=10))
    user_client.get(f"{JOBS}/{job.pk}/results?max_points=100")

    link = user_client.get(f"{JOBS}/{job.pk}/results.csv?max_points=100")["Location"]
    text = b"".join(user_client.get(link).streaming_content).decode()
    signed = user_client.get(f"{JOBS}/{job.pk}/results?max_points=100").json()["csv_url"]
    again = b"".join(user_client.get(signed).streaming_content).decode()

    assert len(text.splitlines()) == 5_001 and again == text


@pytest.mark.parametrize("value", ["10", "1000000", "many", "2.5"])
def test_max_points_outside_its_documented_range_is_400(user, user_client, value):
    job = finished_job(user, ball_version(user), ball_result(10))

    response = user_client.get(f"{JOBS}/{job.pk}/results?max_points={value}")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "max_points" in response.json()["fields"]


def test_another_users_display_results_are_404(user, other_user, api_client):
    job = finished_job(user, ball_version(user), ball_result(10))
    api_client.force_authenticate(other_user)

    assert api_client.get(f"{JOBS}/{job.pk}/results?max_points=100").status_code == 404


def test_the_server_rendered_plot_of_a_long_result_draws_fewer_rows_and_its_peak(user, user_client):
    job = finished_job(user, ball_version(user), ball_result(200_001, spike_at=123_456))
    drawn = {}

    def render(x, series, units, **kwargs):
        drawn.update(rows=len(x), peak=float(np.max(series["h"])), end=float(x[-1]))
        return b"<svg/>"

    with mock.patch("execution.plots.render_time_series", render):
        response = user_client.get(f"{JOBS}/{job.pk}/plot?fmt=svg&variables=h")

    assert response.status_code == 200
    assert drawn == {"rows": drawn["rows"], "peak": 42.0, "end": 3.0}
    assert drawn["rows"] <= plots.PLOT_POINTS


# --- the job page --------------------------------------------------------------------------------


def plot_config(page: str) -> dict:
    tag = r'<script id="plot-config" type="application/json">(.*?)</script>'
    match = re.search(tag, page, re.S)
    assert match, "the page embeds the plot's configuration"
    return json.loads(match.group(1))


def test_the_job_page_configures_the_interactive_plot_and_keeps_the_server_plot(client, user):
    version = ball_version(user)
    job = finished_job(user, version, ball_result(100))
    client.force_login(user)

    page = client.get(reverse("job-detail", kwargs={"pk": job.pk})).content.decode()

    config = plot_config(page)
    assert config["runs"][0] == {
        "id": str(job.pk),
        "label": "this run",
        "url": f"/api/v1/jobs/{job.pk}/results",
    }
    assert config["max_points"] == results.DISPLAY_POINTS
    # Served from our own static files, never a CDN; no inline script (the config is data).
    assert '<script src="/static/vendor/uplot/uPlot.iife.min.js" defer></script>' in page
    assert '<script src="/static/js/plot.js" defer></script>' in page
    assert '<link rel="stylesheet" href="/static/vendor/uplot/uPlot.min.css">' in page
    assert not re.search(r"<script(?![^>]*(?:\ssrc=|type=\"application/json\"))", page)
    # Without JavaScript: the interactive plot stays hidden, the server-rendered one is shown.
    assert re.search(r'<section class="result-plot" id="result-plot"[^>]*\shidden>', page)
    fallback = re.search(r'<div id="plot-fallback">(.*?)</div>', page, re.S)
    assert fallback and f'src="/api/v1/jobs/{job.pk}/plot?fmt=svg"' in fallback.group(1)
    assert 'alt="Plot of the simulation result"' in fallback.group(1)
    # Variables to choose, with their units; the first few shown, as the server plot does.
    assert re.search(r'value="h" checked> h <small>\[m\]</small>', page)
    assert re.search(r'value="v" checked> v <small>\[m/s\]</small>', page)


def test_the_page_offers_only_the_owners_earlier_successful_runs_of_this_version(
    client, user, other_user, moderator, django_assert_max_num_queries
):
    version = ball_version(user)
    now = timezone.now()
    earlier = []
    for minutes in (30, 20):
        run = finished_job(user, version, ball_result(50))
        SimulationJob.objects.filter(pk=run.pk).update(created_at=now - timedelta(minutes=minutes))
        earlier.append(run)
    job = finished_job(user, version, ball_result(50))
    later = finished_job(user, version, ball_result(50))
    SimulationJob.objects.filter(pk=later.pk).update(created_at=now + timedelta(minutes=5))
    strangers = finished_job(other_user, version, ball_result(50))
    other_version = finished_job(user, ball_version(user), ball_result(50))
    failed = SimulationJob.objects.create(
        owner=user, version=version, sha256=version.sha256, status=JobStatus.FAILED
    )
    batch = SimulationBatch.objects.create(
        owner=user, version=version, sha256=version.sha256, runs_total=1
    )
    sweep_run = finished_job(user, version, ball_result(50), batch=batch, batch_index=0)
    for hidden in (strangers, other_version, failed, sweep_run):
        SimulationJob.objects.filter(pk=hidden.pk).update(created_at=now - timedelta(hours=1))
    client.force_login(user)

    with django_assert_max_num_queries(8):
        page = client.get(reverse("job-detail", kwargs={"pk": job.pk})).content.decode()

    offered = re.findall(r'name="plot-run" value="([0-9a-f-]{36})"', page)
    assert offered == [str(earlier[1].pk), str(earlier[0].pk)]  # newest first
    config = plot_config(page)
    assert [run["id"] for run in config["runs"]] == [str(job.pk), *offered]
    assert config["runs"][1]["url"] == f"/api/v1/jobs/{earlier[1].pk}/results"
    assert "Compare with previous runs of this model version" in page
    assert "&quot;h&quot;: 1.0" in page  # each run's start values, to tell them apart

    client.force_login(moderator)  # a moderator sees the owner's runs, not their own
    page = client.get(reverse("job-detail", kwargs={"pk": job.pk})).content.decode()
    assert re.findall(r'name="plot-run" value="([0-9a-f-]{36})"', page) == offered

    client.force_login(other_user)
    assert client.get(reverse("job-detail", kwargs={"pk": job.pk})).status_code == 404
    page = client.get(reverse("job-detail", kwargs={"pk": strangers.pk})).content.decode()
    assert 'name="plot-run"' not in page  # none of user's runs, though the version is the same


def test_a_job_without_results_has_no_interactive_plot(client, user):
    version = ball_version(user)
    job = SimulationJob.objects.create(
        owner=user, version=version, sha256=version.sha256, status=JobStatus.FAILED
    )
    client.force_login(user)

    page = client.get(reverse("job-detail", kwargs={"pk": job.pk})).content.decode()

    assert "plot-config" not in page and "uPlot" not in page


def test_the_front_end_assets_are_installed_or_the_check_says_how(monkeypatch):
    # `make venv` (and `make test`) runs `make assets`: npm ci from package-lock.json.
    assert checks.front_end_assets_installed(None) == []

    monkeypatch.setattr("django.contrib.staticfiles.finders.find", lambda path: None)
    [warning] = checks.front_end_assets_installed(None)
    assert warning.id == "fmugateway.W030" and "make assets" in warning.hint
