"""Shared fixtures and helpers of the job and batch tests (import them into a test module).

``conftest.py`` beside this file belongs to the sandbox tests; these build on it (its
``hostile_fmu`` fixture is visible to every test module here).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest

from registry.models import Package, PackageVersion
from registry.tests.fixtures import sample_fmus

__all__ = [
    "eager_jobs",
    "instance_leftovers",
    "make_version",
    "publish",
    "run_eagerly",
    "sample_fmus",
    "storage_dirs",
    "wait_for",
]


@pytest.fixture
def storage_dirs(settings, tmp_path):
    """Fresh artifacts and results storages (not for worker tests: the worker has its own)."""
    roots = {name: tmp_path / name for name in ("artifacts", "results")}
    settings.STORAGES = {
        **settings.STORAGES,
        **{
            name: {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(root)},
            }
            for name, root in roots.items()
        },
    }
    return roots


@pytest.fixture
def eager_jobs(storage_dirs):
    """Celery tasks dispatched after commit run at once, in this process (its own sandbox)."""
    from fmugateway.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield storage_dirs
    app.conf.task_always_eager = previous


@contextmanager
def run_eagerly(capture):
    """Run the on-commit dispatches of the block (pass ``django_capture_on_commit_callbacks``)."""
    with capture(execute=True):
        yield


def make_version(owner, fmu_path: Path, *, version: str = "1.0.0", package=None, **package_kw):
    """Upload ``fmu_path`` as a version of a (new) package of ``owner``, without validation."""
    from registry import services
    from registry.factories import PackageFactory

    package = package or PackageFactory(owner=owner, **package_kw)
    with mock.patch("registry.validation.queue_validation"):
        return services.upload_version(
            package,
            uploaded_by=owner,
            upload=services.ReceivedFile(
                path=Path(fmu_path),
                sha256=None,
                size=Path(fmu_path).stat().st_size,
                original_filename=Path(fmu_path).name,
            ),
            version=version,
        )


def publish(version: PackageVersion, *, free: bool = True) -> PackageVersion:
    """Make the version published: package listed, validation passed."""
    Package.objects.filter(pk=version.package_id).update(status=Package.Status.LISTED, is_free=free)
    PackageVersion.objects.filter(pk=version.pk).update(
        validation_status=PackageVersion.ValidationStatus.PASSED
    )
    version.refresh_from_db()
    version.package.refresh_from_db()
    return version


def wait_for(fetch, done, timeout: float = 60.0, interval: float = 0.05):
    """Poll ``fetch()`` until ``done(value)``; returns the value or fails with the last one."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; last value: {value!r}")
        time.sleep(interval)
        value = fetch()
    return value


def instance_leftovers(instance_dir: Path) -> list[str]:
    """Files/dirs under a sandbox instance dir other than the FMU cache, the instance's owner
    lock, idle zygote dirs and their empty mountpoints: what a finished run must not leave."""
    extra = []
    for path in instance_dir.rglob("*"):
        rel = path.relative_to(instance_dir)
        if rel.parts[0] in ("cache", ".owner"):
            continue
        if rel.parts[0].startswith("zygote-") and len(rel.parts) == 1:
            continue
        if len(rel.parts) == 2 and rel.parts[1] == "root" and not any(path.iterdir()):
            continue
        extra.append(str(rel))
    return extra
