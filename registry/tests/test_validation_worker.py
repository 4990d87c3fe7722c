"""The validation job runs in a real Celery worker; a hanging FMU does not stop it."""

import time

import pytest

from fmugateway.testing import require_shared_fmus
from registry import services
from registry.models import ValidationRun
from registry.tests.fixtures import upload_sample

OVERTURE = "Overture/0.1.7/watertankController-Standalone/watertankController-Standalone.fmu"


def wait_finished(runs, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in runs:
            run.refresh_from_db()
        if all(run.finished for run in runs):
            return
        time.sleep(0.2)
    raise AssertionError(f"validation did not finish: {[(r.pk, r.status) for r in runs]}")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_hanging_fmu_times_out_and_the_worker_validates_the_next_one(
    celery_worker_process, package, sample_fmus
):
    path = require_shared_fmus() / OVERTURE
    hanging = services.upload_version(
        package,
        uploaded_by=package.owner,
        upload=services.ReceivedFile(path=path, sha256=None, size=path.stat().st_size),
        version="0.1.0",
    )
    good = upload_sample(package, sample_fmus[("mass_spring_damper", "2.0")], version="1.0.0")
    hanging_run, good_run = hanging.validation_runs.get(), good.validation_runs.get()

    started = time.monotonic()
    wait_finished([hanging_run, good_run])

    assert hanging_run.status == ValidationRun.Status.FAILED
    assert hanging_run.report["smoke"]["code"] in {"timeout", "memory_limit", "cpu_limit"}
    assert hanging_run.report["smoke"]["usage"]["wall_s"] < 15
    assert good_run.status == ValidationRun.Status.PASSED, good_run.report
    good.refresh_from_db()
    assert good.certified
    assert time.monotonic() - started < 90
