"""Liveness of the parts the product needs, for ``/healthz`` and ``manage.py healthcheck``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.db import connection
from django.utils import timezone

STORAGE_NAMES = ("artifacts", "results", "media")


def _timed(check: Callable[[], dict]) -> dict:
    started = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:  # a health check reports failures, it never raises
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def check_broker() -> dict:
    from fmugateway.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        transport = conn.transport_cls
    return {"transport": str(transport)}


def check_storage() -> dict:
    details = {}
    for name in STORAGE_NAMES:
        storage = storages[name]
        if isinstance(storage, FileSystemStorage):
            location = storage.location
            os.makedirs(location, exist_ok=True)
            if not os.access(location, os.W_OK):
                raise OSError(f"storage {name!r} at {location} is not writable")
        else:
            storage.exists("healthz-probe")
        details[name] = type(storage).__name__
    return {"storages": details}


def check_worker() -> dict:
    from fmugateway.core.models import WorkerHeartbeat

    latest = WorkerHeartbeat.objects.order_by("-seen_at").first()
    if latest is None:
        raise RuntimeError("no worker heartbeat yet; is a Celery worker (and beat) running?")
    age = (timezone.now() - latest.seen_at).total_seconds()
    if age > settings.HEALTHZ_HEARTBEAT_MAX_AGE:
        raise RuntimeError(f"last worker heartbeat from {latest.hostname} was {age:.0f} s ago")
    sandbox = latest.status.get("sandbox")
    if sandbox and not sandbox.get("usable", True):
        raise RuntimeError(f"worker {latest.hostname} cannot run FMUs: {sandbox.get('detail')}")
    since = timezone.now() - timedelta(seconds=settings.HEALTHZ_HEARTBEAT_MAX_AGE)
    return {
        "hostname": latest.hostname,
        "last_heartbeat": latest.seen_at.isoformat(),
        "age_s": round(age, 1),
        **latest.status,
        # every live worker's sandbox: namespaces, cgroup version, seccomp, per-run uids
        "isolation": {
            beat.hostname: sandbox_summary(beat.status)
            for beat in WorkerHeartbeat.objects.filter(seen_at__gte=since).order_by("hostname")
        },
    }


def sandbox_summary(status: dict) -> str:
    """One line about a worker's FMU sandbox from its heartbeat (older workers: less said)."""
    sandbox = status.get("sandbox") or {}
    if not sandbox:
        return "unknown"
    if "summary" in sandbox:
        return str(sandbox["summary"])
    return "namespaces" if sandbox.get("isolated") else "NO namespaces"


CHECKS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
    "worker": check_worker,
}


def run_checks() -> dict:
    results = {name: _timed(check) for name, check in CHECKS.items()}
    ok = all(result["ok"] for result in results.values())
    return {"status": "ok" if ok else "unavailable", "checks": results}
