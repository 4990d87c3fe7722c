"""Validation and certification of a version (the Celery job and ``manage.py validate_fmu``).

A run checks, in order: fmpy's validation of the model description, a sandboxed smoke
simulation of the default experiment, and each of the creator's test vectors (sandboxed, compared
within tolerance). A version is **Validated** when the run passes, and **Certified** when it
also has at least one passing test vector and a security scan without critical or high findings;
the platform then signs an attestation that anyone can verify offline.

Findings are graded. **Errors** fail the run: what stops fmpy from loading the model (the
checks ``fmpy.simulate_fmu`` itself makes: schema, variables, units...), a failed smoke run or
test vector. **Warnings** do not: what only fmpy's stricter checks find and fmpy runs through
(an incomplete ``ModelStructure``, variable names off the naming convention), and a library
loaded under the modelIdentifier's name. A passed version with warnings is *validated with
warnings*; warnings do not stop certification, which requires no errors.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import fmpy
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from fmugateway.core.audit import record
from fmugateway.core.errors import DomainError
from fmugateway.core.signing import SignatureInvalid, sign_document, verify_document
from fmugateway.core.storage import local_copy
from registry import vectors
from registry.inspection import sha256_file
from registry.models import PackageVersion, TestVector, ValidationRun

logger = logging.getLogger(__name__)

# Bump when the checks change: versions validated by an older validator can be re-run.
VALIDATOR_VERSION = "1.1.0"
ATTESTATION_TYPE = "fmugateway.attestation/v1"
BLOCKING_SEVERITIES = {"critical", "high"}


def queue_validation(version: PackageVersion, requested_by=None) -> ValidationRun:
    """Create a queued run and dispatch it once the caller's transaction commits."""
    from registry.tasks import validate_version

    run = ValidationRun.objects.create(
        version=version,
        requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
        validator_version=VALIDATOR_VERSION,
        fmpy_version=fmpy.__version__,
    )
    PackageVersion.objects.filter(pk=version.pk).update(
        validation_status=PackageVersion.ValidationStatus.PENDING
    )
    validate_version.apply_async((run.pk,), queue="validation")
    return run


def _claim(run_id: int) -> ValidationRun | None:
    """Take the run: a queued one, or one left running by a worker that died (retried once)."""
    now = timezone.now()
    claimed = ValidationRun.objects.filter(
        Q(status=ValidationRun.Status.QUEUED)
        | Q(status=ValidationRun.Status.RUNNING, attempts__lt=2),
        pk=run_id,
    ).update(status=ValidationRun.Status.RUNNING, started_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    run = ValidationRun.objects.select_related("version__package").get(pk=run_id)
    PackageVersion.objects.filter(pk=run.version_id).update(
        validation_status=PackageVersion.ValidationStatus.RUNNING
    )
    return run


def _progress(run: ValidationRun, progress: int, stage: str) -> None:
    run.progress, run.stage = progress, stage
    ValidationRun.objects.filter(pk=run.pk).update(progress=progress, stage=stage)


def _simulate(version: PackageVersion, fmu_path: Path, **settings_) -> dict[str, Any]:
    """Run the FMU in the sandbox; the answer is a JSON-able summary plus the result array."""
    from fmugateway.core.sandbox import default_limits, run_sandboxed

    limits = default_limits(
        wall_seconds=settings.VALIDATION_WALL_SECONDS, cpu_seconds=settings.VALIDATION_CPU_SECONDS
    )
    return run_sandboxed(fmu_path, version.sha256, limits=limits, **settings_)


def _check_model_description(fmu_path: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings): errors stop fmpy from loading the model (``simulate_fmu`` reads
    the description with these same checks); warnings are what only its stricter checks
    (model structure, variable names) find."""
    from fmpy import read_model_description
    from fmpy.model_description import ValidationError
    from fmpy.validation import validate_model_description

    try:
        md = read_model_description(str(fmu_path), validate=True)
    except ValidationError as exc:
        return [str(problem) for problem in exc.problems], []
    except Exception as exc:  # fmpy raises plain exceptions for unreadable descriptions
        return [f"{type(exc).__name__}: {exc}"], []
    try:
        strict = validate_model_description(
            md, validate_variable_names=True, validate_model_structure=True
        )
    except Exception as exc:  # a crash of the stricter checks is not the model's error
        strict = [f"the stricter checks could not run: {type(exc).__name__}: {exc}"]
    return [], [str(problem) for problem in strict]


def _loading_warnings(version: PackageVersion) -> list[dict[str, str]]:
    """What the upload's inspection found about loading the model that users should know."""
    warnings = []
    for interface in (version.inspection or {}).get("interfaces", []):
        if interface.get("library_renamed"):
            library = interface.get("library") or ""
            warnings.append(
                {
                    "code": "binary_name_mismatch",
                    "detail": (
                        f"{interface['kind']}: the library is not named after the "
                        f"modelIdentifier {interface['model_identifier']!r}; the gateway "
                        f"loaded the only Linux library, {library.rsplit('/', 1)[-1]!r}."
                    ),
                }
            )
    return warnings


def _unsupported(version: PackageVersion) -> str | None:
    """Why the runner cannot execute this version at all, or None."""
    if version.runnable_kinds:
        return None
    return (
        "This FMU offers only FMI 3 Scheduled Execution, which the gateway's runner cannot "
        "execute; it runs Model Exchange and Co-Simulation."
    )


def _not_run(code: str, message: str) -> dict[str, Any]:
    return {
        "status": "skipped",
        "code": code,
        "message": message,
        "usage": {"cpu_s": 0.0, "peak_rss_mb": 0.0, "wall_s": 0.0, "output_bytes": 0},
        "rows": 0,
    }


def _run_vector(version, fmu_path: Path, vector: TestVector) -> dict[str, Any]:
    with local_copy("artifacts", vector.reference_key, ".csv") as reference_path:
        reference = vectors.read_reference_csv(reference_path)
        inputs = None
        if vector.inputs_key:
            with local_copy("artifacts", vector.inputs_key, ".csv") as inputs_path:
                inputs = vectors.read_reference_csv(inputs_path)
    names = reference.dtype.names or ()  # a structured array: always named
    columns = list(vector.columns) or list(names[1:])
    time = reference[names[0]]
    outcome = _simulate(
        version,
        fmu_path,
        fmi_type=vector.fmi_type or None,
        start_time=float(time[0]),
        stop_time=float(time[-1]),
        start_values=vector.start_values,
        inputs=inputs,
        outputs=columns,
    )
    entry: dict[str, Any] = {
        "name": vector.name,
        "rtol": vector.rtol,
        "atol": vector.atol,
        "simulation": outcome["summary"],
    }
    if outcome["result"] is None:
        entry.update(passed=False, error=outcome["summary"].get("message", "simulation failed"))
        return entry
    comparison = vectors.compare_to_reference(
        outcome["result"], reference, columns=columns, rtol=vector.rtol, atol=vector.atol
    )
    entry.update(passed=comparison.passed, comparison=comparison.as_dict())
    return entry


def _vector_not_run(vector: TestVector, why: str) -> dict[str, Any]:
    return {
        "name": vector.name,
        "rtol": vector.rtol,
        "atol": vector.atol,
        "simulation": _not_run("unsupported_interface", why),
        "passed": False,
        "error": why,
    }


def run_validation(run_id: int) -> ValidationRun | None:
    """Execute a queued run to completion; returns ``None`` when another worker has it."""
    run = _claim(run_id)
    if run is None:
        return None
    version = run.version
    report: dict[str, Any] = {
        "validator_version": VALIDATOR_VERSION,
        "fmpy_version": fmpy.__version__,
        "fmu_sha256": version.sha256,
    }
    reasons: list[str] = []
    warnings: list[dict[str, str]] = []
    try:
        with local_copy("artifacts", version.artifact_key, ".fmu") as fmu_path:
            _progress(run, 10, "Checking the model description")
            problems, minor = _check_model_description(fmu_path)
            report["model_description"] = {
                "problems": problems,
                "warnings": minor,
                "passed": not problems,
            }
            if problems:
                reasons.append(f"{len(problems)} model description problem(s)")
            warnings += [{"code": "model_description", "detail": p} for p in minor]
            warnings += _loading_warnings(version)

            _progress(run, 30, "Smoke simulation of the default experiment")
            unsupported = _unsupported(version)
            if unsupported:
                report["smoke"] = _not_run("unsupported_interface", unsupported)
                reasons.append(unsupported)
            else:
                smoke = _simulate(version, fmu_path)
                report["smoke"] = smoke["summary"]
                if smoke["result"] is None:
                    reasons.append(f"smoke simulation failed ({smoke['summary'].get('code')})")

            vector_reports = []
            test_vectors = list(version.test_vectors.all())
            for index, vector in enumerate(test_vectors):
                _progress(
                    run, 50 + 40 * index // max(1, len(test_vectors)), f"Test vector {vector.name}"
                )
                if unsupported:
                    vector_reports.append(_vector_not_run(vector, unsupported))
                else:
                    vector_reports.append(_run_vector(version, fmu_path, vector))
            report["test_vectors"] = vector_reports
            failed_vectors = [entry["name"] for entry in vector_reports if not entry["passed"]]
            if failed_vectors:
                reasons.append(f"test vector(s) failed: {', '.join(failed_vectors)}")
    except Exception as exc:
        logger.exception("Validation run %s failed unexpectedly", run.pk)
        _finish(
            run,
            ValidationRun.Status.ERROR,
            report,
            error=("validator_error", f"The validator failed: {type(exc).__name__}"),
        )
        return run

    scan_blocking = [
        finding
        for finding in (version.scan_report or {}).get("findings", [])
        if finding.get("severity") in BLOCKING_SEVERITIES
    ]
    passed = not reasons
    certification_reasons = list(reasons)
    if scan_blocking:
        certification_reasons.append(f"{len(scan_blocking)} critical/high security finding(s)")
    if not report.get("test_vectors"):
        certification_reasons.append("no test vectors")
    report["passed"] = passed
    report["certified"] = passed and not certification_reasons
    report["reasons"] = reasons
    report["certification_reasons"] = certification_reasons
    report["warnings"] = warnings
    status = ValidationRun.Status.PASSED if passed else ValidationRun.Status.FAILED
    _finish(run, status, report)
    return run


@transaction.atomic
def _finish(run: ValidationRun, status: str, report: dict, error: tuple[str, str] | None = None):
    version = PackageVersion.objects.select_for_update().get(pk=run.version_id)
    run.status, run.report, run.progress, run.stage = status, report, 100, "Finished"
    run.finished_at = timezone.now()
    run.error_code, run.error_message = error or ("", "")
    run.save(
        update_fields=[
            "status",
            "report",
            "progress",
            "stage",
            "finished_at",
            "error_code",
            "error_message",
        ]
    )
    outcomes: dict[str, str] = {
        ValidationRun.Status.PASSED: PackageVersion.ValidationStatus.PASSED,
        ValidationRun.Status.FAILED: PackageVersion.ValidationStatus.FAILED,
    }
    version.validation_status = outcomes.get(status, PackageVersion.ValidationStatus.ERROR)
    certified = bool(report.get("certified"))
    version.certified = certified
    version.certified_at = timezone.now() if certified else None
    version.attestation = issue_attestation(version, run) if certified else None
    version.validation_warnings = report.get("warnings") or []
    smoke = report.get("smoke") or {}
    version.smoke_run_seconds = (
        (smoke.get("usage") or {}).get("wall_s") if smoke.get("status") == "succeeded" else None
    )
    version.save(
        update_fields=[
            "validation_status",
            "certified",
            "certified_at",
            "attestation",
            "validation_warnings",
            "smoke_run_seconds",
            "updated_at",
        ]
    )
    record(
        "registry.version.validated",
        target=version,
        after={"run": run.pk, "status": status, "certified": certified},
    )


def issue_attestation(version: PackageVersion, run: ValidationRun) -> dict:
    report = run.report
    payload = {
        "type": ATTESTATION_TYPE,
        "issuer": settings.SITE_URL,
        "package": version.package.slug,
        "version": version.version,
        "fmu_sha256": version.sha256,
        "model_description_sha256": version.model_description_sha256,
        "fmi_version": version.fmi_version,
        "validator_version": report.get("validator_version"),
        "fmpy_version": report.get("fmpy_version"),
        "results": {
            "model_description_problems": len(report["model_description"]["problems"]),
            "warnings": len(report.get("warnings", [])),
            "smoke": report["smoke"].get("status"),
            "test_vectors": [
                {"name": entry["name"], "passed": entry["passed"]}
                for entry in report.get("test_vectors", [])
            ],
            "risk_score": version.risk_score,
        },
        "validation_run": run.pk,
        "issued_at": timezone.now().isoformat(),
    }
    return sign_document(payload)


class AttestationMismatch(DomainError):
    code = "attestation_mismatch"


def verify_attestation(fmu_path: Path, document: Any, keys: dict | None = None) -> dict:
    """Check an attestation against an FMU file without the database.

    Raises ``SignatureInvalid`` when the signature does not verify with a published key and
    ``AttestationMismatch`` when the file is not the one attested; returns the payload.
    """
    payload = verify_document(document, keys)
    if payload.get("type") != ATTESTATION_TYPE:
        raise SignatureInvalid("This signed document is not an attestation.")
    if sha256_file(Path(fmu_path)) != payload.get("fmu_sha256"):
        raise AttestationMismatch("The FMU's SHA-256 differs from the attested one.")
    return payload
