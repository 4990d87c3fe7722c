"""The storefront's job and sweep pages show settings as JSON, not as Python's repr."""

from __future__ import annotations

import html
import json
import re

import pytest
from django.urls import reverse

from execution.models import JobStatus, SimulationBatch, SimulationJob
from registry.factories import PackageVersionFactory
from registry.models import PackageVersion

pytestmark = pytest.mark.django_db

SETTINGS = {
    "start_time": 0.0,
    "stop_time": 10.0,
    "output_interval": None,
    "start_values": {"k": 2.5, "label": "Über"},
    "record_events": True,
}


def _version(owner) -> PackageVersion:
    return PackageVersionFactory.create(package__owner=owner)


def test_job_page_shows_its_settings_as_readable_json(client, user):
    version = _version(user)
    job = SimulationJob.objects.create(
        owner=user, version=version, sha256=version.sha256, settings=SETTINGS
    )
    client.force_login(user)

    page = client.get(reverse("job-detail", kwargs={"pk": job.pk})).content.decode()

    shown = re.search(r"<h2>Settings</h2>\s*<pre>(.*?)</pre>", page, re.S)
    assert shown, page
    assert json.loads(html.unescape(shown.group(1))) == SETTINGS
    assert "None" not in shown.group(1) and "True" not in shown.group(1)
    assert "\n" in shown.group(1)  # indented, one setting a line


def test_sweep_page_shows_start_values_as_json(client, user):
    version = _version(user)
    batch = SimulationBatch.objects.create(
        owner=user, version=version, sha256=version.sha256, runs_total=1
    )
    SimulationJob.objects.create(
        owner=user,
        version=version,
        sha256=version.sha256,
        batch=batch,
        batch_index=0,
        status=JobStatus.QUEUED,
        settings={"start_values": {"k": 2.5, "on": False}},
    )
    client.force_login(user)

    page = client.get(reverse("batch-detail", kwargs={"pk": batch.pk})).content.decode()

    assert "<code>{&quot;k&quot;: 2.5, &quot;on&quot;: false}</code>" in page


def _head_and_body(page: str) -> tuple[str, str]:
    head, _, body = page.partition("</head>")
    return head, body


def _without_noscript(markup: str) -> str:
    return re.sub(r"<noscript>.*?</noscript>", "", markup, flags=re.S)


def test_running_job_page_updates_live_and_refreshes_only_without_javascript(client, user):
    version = _version(user)
    job = SimulationJob.objects.create(
        owner=user, version=version, sha256=version.sha256, status=JobStatus.RUNNING
    )
    client.force_login(user)

    page = client.get(reverse("job-detail", kwargs={"pk": job.pk})).content.decode()

    head, body = _head_and_body(page)
    # The meta refresh is the no-JavaScript fallback only: inside <noscript> in <head>.
    assert re.search(r'<noscript><meta http-equiv="refresh" content="\d+"></noscript>', head)
    assert 'http-equiv="refresh"' not in _without_noscript(page)
    assert "/static/js/livestatus.js" in page
    assert f'data-live-url="/api/v1/jobs/{job.pk}/"' in body or (
        f'data-live-url="/api/v1/jobs/{job.pk}"' in body
    )
    assert 'id="job-status" data-live-status' in body
    assert 'data-live-value="started_at"' in body and 'data-live-value="finished_at"' in body
    labels = re.search(r'<script id="status-labels" type="application/json">(.*?)</script>', body)
    assert labels and json.loads(labels.group(1))["succeeded"] == "Succeeded"


def test_finished_job_page_neither_refreshes_nor_polls(client, user):
    version = _version(user)
    job = SimulationJob.objects.create(
        owner=user, version=version, sha256=version.sha256, status=JobStatus.FAILED
    )
    client.force_login(user)

    page = client.get(reverse("job-detail", kwargs={"pk": job.pk})).content.decode()

    assert 'http-equiv="refresh"' not in page
    assert "livestatus.js" not in page and "data-live-url" not in page


def test_running_sweep_page_updates_progress_live(client, user):
    version = _version(user)
    batch = SimulationBatch.objects.create(
        owner=user,
        version=version,
        sha256=version.sha256,
        runs_total=4,
        runs_succeeded=1,
        status=JobStatus.RUNNING,
    )
    client.force_login(user)

    page = client.get(reverse("batch-detail", kwargs={"pk": batch.pk})).content.decode()

    head, body = _head_and_body(page)
    assert re.search(r'<noscript><meta http-equiv="refresh" content="\d+"></noscript>', head)
    assert 'http-equiv="refresh"' not in _without_noscript(page)
    assert "/static/js/livestatus.js" in page
    assert f'data-live-url="/api/v1/batches/{batch.pk}' in body
    assert '<span data-live-value="runs_finished">1</span> of' in body
    assert '<span data-live-value="runs_total">4</span>' in body
    assert re.search(r'<progress max="4" value="1" data-live-progress>', body)

    batch.status = JobStatus.SUCCEEDED
    batch.runs_succeeded = 4
    batch.save()
    done = client.get(reverse("batch-detail", kwargs={"pk": batch.pk})).content.decode()
    assert 'http-equiv="refresh"' not in done and "livestatus.js" not in done
