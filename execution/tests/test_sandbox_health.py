"""/healthz, the worker heartbeat and the admin say which isolation each worker's sandbox has."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from fmugateway.core.models import WorkerHeartbeat
from fmugateway.core.tasks import heartbeat

from .conftest import missing_requirement

V1_ON = {
    "isolated": True,
    "usable": True,
    "detail": "isolated",
    "namespaces": True,
    "cgroup": "v1",
    "cgroup_detail": "cgroup v1: /sys/fs/cgroup/memory/fmu-sandbox-7-ab",
    "seccomp": True,
    "seccomp_detail": "57 system calls refused",
    "per_run_uid": "",
    "summary": "namespaces, cgroup v1, seccomp on",
}
FALLBACK = {
    **V1_ON,
    "cgroup": "none",
    "cgroup_detail": "v1: PermissionError: [Errno 13] Permission denied",
    "seccomp": False,
    "seccomp_detail": "libseccomp's Python binding is not installed",
    "per_run_uid": "a uid per run",
    "summary": "namespaces, no cgroup (per-process rlimits, a uid per run), seccomp off",
}


def test_the_heartbeat_reports_what_the_sandbox_probed(db):
    from execution.apps import report_sandbox

    sandbox = report_sandbox(None)["sandbox"]
    if not sandbox["isolated"]:
        missing_requirement(f"kernel isolation unavailable: {sandbox['detail']}")
    assert sandbox["namespaces"] is True
    assert sandbox["cgroup"] in ("v1", "v2"), sandbox["cgroup_detail"]
    if not sandbox["seccomp"]:
        missing_requirement(f"no seccomp: {sandbox['seccomp_detail']}")
    assert sandbox["summary"] == f"namespaces, cgroup {sandbox['cgroup']}, seccomp on"


@pytest.mark.django_db
def test_healthz_shows_the_isolation_of_every_live_worker(client):
    WorkerHeartbeat.objects.create(
        hostname="w1@a", seen_at=timezone.now(), status={"sandbox": V1_ON}
    )
    WorkerHeartbeat.objects.create(
        hostname="w2@b", seen_at=timezone.now(), status={"sandbox": FALLBACK}
    )

    response = client.get("/healthz")

    assert response.status_code == 200
    worker = response.json()["checks"]["worker"]
    assert worker["isolation"] == {"w1@a": V1_ON["summary"], "w2@b": FALLBACK["summary"]}
    assert worker["sandbox"]["cgroup"] in ("v1", "none")


@pytest.mark.django_db
def test_the_admin_shows_each_workers_isolation(client, django_user_model):
    admin = django_user_model.objects.create_superuser("admin@example.com", "pw")
    client.force_login(admin)
    beat = WorkerHeartbeat.objects.create(
        hostname="w2@b", seen_at=timezone.now(), status={"sandbox": FALLBACK}
    )

    listing = client.get(reverse("admin:core_workerheartbeat_changelist"))
    detail = client.get(reverse("admin:core_workerheartbeat_change", args=[beat.pk]))

    assert listing.status_code == 200
    assert FALLBACK["summary"] in listing.content.decode()
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "Permission denied" in page
    assert "a uid per run" in page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_logs_and_reports_its_isolation(celery_worker_process, client, settings):
    heartbeat.delay()
    deadline = time.monotonic() + 60
    while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    beat = WorkerHeartbeat.objects.get()
    sandbox = beat.status["sandbox"]
    assert sandbox["cgroup"] in ("v1", "v2") and sandbox["seccomp"] is True, sandbox
    body = client.get("/healthz").json()
    assert body["checks"]["worker"]["isolation"] == {beat.hostname: sandbox["summary"]}
    log = (Path(settings.VAR_DIR) / "test-worker.log").read_text(encoding="utf-8")
    assert f"FMU sandbox isolation: {sandbox['summary']}" in log
