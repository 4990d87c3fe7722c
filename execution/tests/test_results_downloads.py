"""A job's results in three formats (JSON, CSV, MATLAB .mat), each read back and compared with
the API's JSON value for value; and the job page's paged results table."""

from __future__ import annotations

import math
import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from execution.models import JobStatus, SimulationJob
from execution.tests import matreader
from execution.tests.fixtures import (
    eager_jobs,
    make_version,
    run_eagerly,
    sample_fmus,
    storage_dirs,
)
from execution.tests.results_fixtures import csv_as_json, damped, finished_job, version_with_units

JOBS = "/api/v1/jobs"
FIXTURES = (eager_jobs, sample_fmus, storage_dirs)  # shared fixtures (execution/tests/fixtures.py)
MAT_TYPE = "application/x-matlab-data"

pytestmark = pytest.mark.django_db


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _download(client, url: str):
    """Follow the API's redirect to the signed link, as a browser or the SDK does."""
    redirect = client.get(url)
    assert redirect.status_code == 302, redirect.content
    return client.get(redirect["Location"])


def _mat_as_json(data: bytes) -> dict[str, list]:
    """The MAT-file's columns as the JSON API writes them (NaN and infinities as null)."""
    out = {}
    for name, column in matreader.columns(data).items():
        values = column.tolist()
        out[name] = [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]
    return out


def test_mat_and_csv_downloads_hold_exactly_the_json_results(user, user_client, storage_dirs):
    version = version_with_units(user)
    job = finished_job(user, version, damped(1234, nan_at=5))

    body = user_client.get(f"{JOBS}/{job.pk}/results").json()
    mat = _download(user_client, f"{JOBS}/{job.pk}/results.mat")
    csv_file = _download(user_client, f"{JOBS}/{job.pk}/results.csv")

    assert mat.status_code == 200 and mat["Content-Type"] == MAT_TYPE
    assert f'filename="job-{job.pk}.mat"' in mat["Content-Disposition"]
    assert mat["Content-Disposition"].startswith("attachment")
    assert body["rows"] == 1234 and body["columns"]["x"][5] is None
    assert _mat_as_json(_body(mat)) == body["columns"]
    assert csv_as_json(_body(csv_file), body["columns"]) == body["columns"]


def test_a_real_runs_mat_file_equals_its_json(
    user, user_client, sample_fmus, eager_jobs, django_capture_on_commit_callbacks
):
    version = make_version(user, sample_fmus[("mass_spring_damper", "2.0")].fmu_path)
    with run_eagerly(django_capture_on_commit_callbacks):
        created = user_client.post(
            JOBS,
            {"version_id": version.pk, "stop_time": 3.0, "output_interval": 0.001},
            format="json",
        )
    job = SimulationJob.objects.get(pk=created.json()["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error_message

    body = user_client.get(f"{JOBS}/{job.pk}/results").json()
    mat = _download(user_client, user_client.get(f"{JOBS}/{job.pk}").json()["links"]["results_mat"])

    assert body["rows"] >= 3000  # every sample: downloads are never decimated
    assert _mat_as_json(_body(mat)) == body["columns"]


def test_mat_download_is_for_the_jobs_owner_only(user, other_user, user_client, storage_dirs):
    job = finished_job(user, version_with_units(user), damped(10))
    link = user_client.get(f"{JOBS}/{job.pk}/results.mat")["Location"]
    stranger = APIClient()
    stranger.force_authenticate(other_user)

    assert stranger.get(f"{JOBS}/{job.pk}/results.mat").status_code == 404
    refused = stranger.get(link)
    assert refused.status_code == 403 and refused.json()["code"] == "result_link_not_yours"
    assert APIClient().get(f"{JOBS}/{job.pk}/results.mat").status_code == 401
    assert APIClient().get(link).status_code == 401


def test_mat_download_waits_for_the_result(user, user_client, storage_dirs):
    version = version_with_units(user)
    queued = SimulationJob.objects.create(owner=user, version=version, sha256=version.sha256)

    response = user_client.get(f"{JOBS}/{queued.pk}/results.mat")

    assert response.status_code == 409 and response.json()["code"] == "job_not_finished"


# --- the job page's results table --------------------------------------------------------------


def _table(page: str) -> tuple[list[str], list[list[str]]]:
    section = re.search(r'<section class="results-table".*?</section>', page, re.S)
    assert section, "no results table on the page"
    headers = [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r'<th scope="col">(.*?)</th>', section.group(0), re.S)
    ]
    rows = [
        [number, *re.findall(r"<td>(.*?)</td>", cells)]
        for number, cells in re.findall(
            r'<tr><th scope="row">(\d+)</th>(.*?)</tr>', section.group(0), re.S
        )
    ]
    return headers, rows


def test_job_page_shows_the_result_a_page_of_rows_at_a_time_with_units(client, user, storage_dirs):
    array = damped(2345)
    job = finished_job(user, version_with_units(user), array)
    client.force_login(user)
    url = reverse("job-detail", kwargs={"pk": job.pk})

    first = client.get(url).content.decode()
    headers, rows = _table(first)
    assert headers == ["#", "time [s]", "x [m]", "v [m/s]", "n", "on"]
    assert len(rows) == 50 and rows[0][0] == "1" and rows[-1][0] == "50"
    assert "Rows 1–50 of 2345" in first

    third = client.get(url, {"table_page": 3, "table_rows": 200, "variables": "x"}).content
    _, rows = _table(third.decode())
    assert [row[0] for row in rows] == [str(n) for n in range(401, 601)]
    assert rows[0][1:] == [
        repr(float(array["time"][400])),
        repr(float(array["x"][400])),
        repr(float(array["v"][400])),
        str(array["n"][400]),
        "true" if array["on"][400] else "false",
    ]
    # Paging keeps the page's other choices (the plotted variables) and lands on the table.
    assert "?table_page=4&amp;table_rows=200&amp;variables=x#results-table" in third.decode() or (
        "variables=x&amp;table_page=4&amp;table_rows=200#results-table" in third.decode()
    )

    last = client.get(url, {"table_page": 12, "table_rows": 200}).content.decode()
    _, rows = _table(last)
    assert rows[-1][0] == "2345" and len(rows) == 2345 - 11 * 200


def test_results_table_ignores_page_settings_it_does_not_offer(client, user, storage_dirs):
    job = finished_job(user, version_with_units(user), damped(120))
    client.force_login(user)
    url = reverse("job-detail", kwargs={"pk": job.pk})

    for query in ({"table_rows": 7}, {"table_rows": "many"}, {"table_page": "x"}):
        response = client.get(url, query)
        assert response.status_code == 200
        _, rows = _table(response.content.decode())
        assert rows[0][0] == "1" and len(rows) == 50, query
    _, rows = _table(client.get(url, {"table_page": 99}).content.decode())
    assert rows[-1][0] == "120"  # past the end: the last page


def test_results_table_links_the_three_downloads(client, user, storage_dirs):
    job = finished_job(user, version_with_units(user), damped(3))
    client.force_login(user)

    page = client.get(reverse("job-detail", kwargs={"pk": job.pk})).content.decode()

    for name, query in (
        ("api-job-results-csv", ""),
        ("api-job-results", "?format=json"),
        ("api-job-results-mat", ""),
    ):
        assert f'href="{reverse(name, kwargs={"pk": job.pk})}{query}"' in page, name
    assert "MATLAB (.mat)" in page


def test_no_results_table_until_the_job_has_succeeded(client, user, storage_dirs):
    version = version_with_units(user)
    job = SimulationJob.objects.create(
        owner=user, version=version, sha256=version.sha256, status=JobStatus.FAILED
    )
    client.force_login(user)

    page = client.get(reverse("job-detail", kwargs={"pk": job.pk})).content.decode()

    assert 'class="results-table"' not in page
