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
