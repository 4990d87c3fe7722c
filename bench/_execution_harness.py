"""Shared set-up of the execution benchmarks (bench_e2e.py, bench_sweep.py).

A dedicated PostgreSQL database (created and migrated), the sample FMUs built once, a user on
the Enterprise plan (credits and sweep size are not what is measured), the model uploaded
through the registry service, and a real ``celery worker`` process (prefork, concurrency 2,
queue ``simulations``) on the Redis broker. Requests go through the Django test client in this
process (``APIClient``): the product's views, middleware, serializers and services, without an
HTTP server in between.

Environment: ``DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/fmugateway_bench_exec),
``REDIS_URL`` (default redis://127.0.0.1:6379/14), ``BENCH_SETTINGS_MODULE`` (default
fmugateway.settings_test).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fmugateway_bench_exec"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"


def configure() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ.setdefault("VAR_DIR", str(REPO / "var" / "bench"))
    os.environ.setdefault(
        "DJANGO_SETTINGS_MODULE",
        os.environ.get("BENCH_SETTINGS_MODULE", "fmugateway.settings_test"),
    )
    sys.path.insert(0, str(REPO))
    _create_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _create_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def sample_fmu(slug: str = "mass_spring_damper", fmi: str = "2.0") -> Path:
    from registry.samples import build_sample_fmus

    out = Path(tempfile.mkdtemp(prefix="bench-samples-"))
    atexit.register(shutil.rmtree, out, True)
    built = {(s.slug, s.fmi_version): s for s in build_sample_fmus(out)}
    return built[(slug, fmi)].fmu_path


def bench_user_and_version(fmu_path: Path):
    """A fresh Enterprise user and the FMU as a version of a new package of theirs."""
    import uuid

    from accounts.models import User
    from billing.services import change_plan, get_account
    from registry import services
    from registry.factories import PackageFactory

    user = User.objects.create_user(email=f"bench-{uuid.uuid4().hex[:8]}@example.com")
    change_plan(user, "enterprise")
    get_account(user)  # opened with Enterprise's monthly credits
    package = PackageFactory.create(owner=user, slug=f"bench-{uuid.uuid4().hex[:8]}")
    with mock.patch("registry.validation.queue_validation"):
        version = services.upload_version(
            package,
            uploaded_by=user,
            upload=services.ReceivedFile(path=fmu_path, sha256=None, size=fmu_path.stat().st_size),
            version="1.0.0",
        )
    return user, version


def api_client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


@contextmanager
def celery_worker(concurrency: int = 2, queues: str = "simulations"):
    """A real worker process on the broker, stopped on exit."""
    from fmugateway.celery import app

    app.control.purge()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log_path = Path(os.environ["VAR_DIR"]) / "bench-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "fmugateway",
                "worker",
                "--loglevel=WARNING",
                f"--concurrency={concurrency}",
                "--without-mingle",
                "--without-gossip",
                "-Q",
                queues,
                "-n",
                f"bench-{os.getpid()}@%h",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while not app.control.ping(timeout=0.5):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start; see {log_path}")
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
