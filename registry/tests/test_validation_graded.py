"""Graded validation: what fmpy runs through is a warning ("validated with warnings"), what
stops it from loading the model is an error; warnings reach the API, the validation report
and the package page, and do not stop certification."""

from __future__ import annotations

import re
import warnings
import zipfile

import pytest

from fmugateway.testing import require_shared_fmus
from registry import services
from registry.models import Package, PackageVersion, ValidationRun
from registry.tests import fmu_builders as fb
from registry.validation import run_validation

pytestmark = pytest.mark.django_db


def validate(version) -> ValidationRun:
    run = version.validation_runs.get()
    run_validation(run.pk)
    run.refresh_from_db()
    version.refresh_from_db()
    return run


def rewritten(source, destination, change):
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(destination, "w") as copy:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == "modelDescription.xml":
                data = change(data.decode()).encode()
            copy.writestr(info, data)
    return destination


def upload(package, path, *, vectors=(), version="1.0.0") -> PackageVersion:
    return services.upload_version(
        package,
        uploaded_by=package.owner,
        upload=services.ReceivedFile(path=path, sha256=None, size=path.stat().st_size),
        version=version,
        test_vectors=vectors,
    )


def without_initial_unknowns(xml: str) -> str:
    return re.sub(r"<InitialUnknowns>.*?</InitialUnknowns>", "", xml, flags=re.S)


def test_incomplete_initial_unknowns_is_validated_with_warnings_and_still_certified(
    package, ball, tmp_path, artifacts_dir, creator_client, client
):
    path = rewritten(ball.fmu_path, tmp_path / "ball.fmu", without_initial_unknowns)
    vector = services.TestVectorInput(
        reference_path=ball.reference_csv,
        columns=tuple(ball.tolerance.columns or ()),
        rtol=ball.tolerance.rtol,
        atol=ball.tolerance.atol,
    )
    version = upload(package, path, vectors=(vector,))

    run = validate(version)

    assert run.status == ValidationRun.Status.PASSED, run.report
    assert run.report["model_description"]["problems"] == []
    assert any("InitialUnknowns" in w for w in run.report["model_description"]["warnings"])
    assert [w["code"] for w in run.report["warnings"]] == ["model_description"]
    assert version.validation_status == PackageVersion.ValidationStatus.PASSED
    assert version.validated_with_warnings
    assert version.certified  # certification requires no errors; warnings are allowed
    assert version.attestation["payload"]["results"]["warnings"] == 1

    base = f"/api/v1/packages/{package.slug}/versions/1.0.0"
    card = creator_client.get(base).json()
    assert card["validation_status"] == "passed"
    assert card["validation_warnings"][0]["code"] == "model_description"
    report = creator_client.get(f"{base}/validation").json()["report"]
    assert report["warnings"] == run.report["warnings"]

    Package.objects.filter(pk=package.pk).update(status=Package.Status.LISTED)
    page = client.get(f"/packages/{package.slug}/versions/1.0.0/report/").content.decode()
    assert "Warnings" in page and "InitialUnknowns" in page
    assert "1 warning" in client.get(f"/packages/{package.slug}/versions/1.0.0/").content.decode()


def test_validated_with_warnings_badge_without_certification(
    package, ball, tmp_path, artifacts_dir, client
):
    path = rewritten(ball.fmu_path, tmp_path / "ball.fmu", without_initial_unknowns)
    version = upload(package, path)
    validate(version)
    Package.objects.filter(pk=package.pk).update(status=Package.Status.LISTED)

    page = client.get(f"/packages/{package.slug}/versions/1.0.0/").content.decode()

    assert not version.certified
    assert "Validated with warnings" in page


def test_an_error_that_stops_fmpy_still_fails(package, ball, tmp_path, artifacts_dir):
    # Over the size fmpy reads at upload: accepted by the streaming inspection, and the
    # duplicate variable name (which fmpy refuses to load) is found by the validation.
    def duplicated(xml: str) -> str:
        extra = fb.many_variables_model_description(15_000)
        rows = extra[extra.index('<ScalarVariable name="plant') : extra.index("</ModelVariables>")]
        rows = rows.replace('name="plant.block0000.s01"', 'name="plant.block0000.s00"')
        end = xml.index("</ModelVariables>")
        return xml[:end] + rows + xml[end:]

    path = rewritten(ball.fmu_path, tmp_path / "ball.fmu", duplicated)
    version = upload(package, path)

    run = validate(version)

    assert run.status == ValidationRun.Status.FAILED
    assert any("not unique" in p for p in run.report["model_description"]["problems"])
    assert version.validation_status == PackageVersion.ValidationStatus.FAILED
    assert not version.certified


def test_a_misnamed_binary_is_loaded_and_the_report_says_so(package, artifacts_dir):
    path = require_shared_fmus() / "20-sim/unknown/singlewatertank-20sim/singlewatertank-20sim.fmu"
    version = upload(package, path)

    run = validate(version)

    assert run.status == ValidationRun.Status.PASSED, run.report
    assert run.report["smoke"]["status"] == "succeeded"
    mismatch = next(w for w in run.report["warnings"] if w["code"] == "binary_name_mismatch")
    assert "singlewatertank-20sim.so" in mismatch["detail"]
    assert "SingleWatertank" in mismatch["detail"]
    assert version.smoke_run_seconds is not None and version.smoke_run_seconds > 0


def test_scheduled_execution_only_fails_validation_without_running(
    package, tmp_path, artifacts_dir
):
    library = fb.compile_c(fb.CLEAN_FMI2_SOURCE, tmp_path / "model.so")
    path = fb.write_fmu(
        tmp_path / "se.fmu",
        {"binaries/x86_64-linux/model.so": library.read_bytes()},
        model_description=fb.SCHEDULED_ONLY,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        version = upload(package, path)

    run = validate(version)

    assert run.status == ValidationRun.Status.FAILED
    assert run.report["smoke"]["status"] == "skipped"
    assert run.report["smoke"]["code"] == "unsupported_interface"
    assert any("Scheduled Execution" in reason for reason in run.report["reasons"])
    assert version.smoke_run_seconds is None
