"""Acceptance over the corpus of real FMUs (``../shared/fmus``, whose README lists what plain
fmpy does with each): every file goes end to end through the API, as a creator would send it
— raw upload → inspection → validation (smoke run of the default experiment) → a job with the
default settings — and what the gateway does is compared with plain in-process fmpy.

Every ``.fmu`` of the folder must have an expectation here, so a file added to the corpus
forces a decision. Run with ``-s`` to print the table of outcomes.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import fmpy
import numpy as np
import pytest

from execution.models import JobStatus, SimulationJob
from execution.services import EffectiveSettings
from execution.tests.fixtures import eager_jobs, run_eagerly, storage_dirs
from fmugateway.testing import list_shared_fmus, require_shared_fmus
from registry.factories import PackageFactory
from registry.models import PackageVersion

FIXTURES = (eager_jobs, storage_dirs)
SAME = "same as plain fmpy"
CONTAINED = "ended within its limits"
LIMIT_CODES = {"timed_out:timeout", "failed:memory_limit", "failed:cpu_limit"}


@dataclass(frozen=True)
class Expected:
    upload: str = "201"  # "201" or the 422 code
    validation: str = "passed"  # passed | failed (with ``warnings``: validated with warnings)
    warnings: bool = False
    job: str = SAME  # SAME, or "<status>:<code>" (any code when just "<status>")
    # plain fmpy fails only because the library is misnamed: compare with fmpy on a copy
    # whose library has the expected name
    misnamed_binary: bool = False


EXPECTED: dict[str, Expected] = {
    "Dymola/2020/0004_Atmos/0004_Atmos.fmu": Expected(),
    "Dymola/2024x/edrive_mass/edrive_mass.fmu": Expected(),
    # Incomplete ModelStructure/InitialUnknowns: fmpy runs it; a warning, no longer a failure.
    "Dymola/2025x/Consumer/Consumer.fmu": Expected(warnings=True),
    "Dymola/2016/pump/pump.fmu": Expected(),
    "OpenModelica/1.18/0001_addP/0001_addP.fmu": Expected(),
    "20-sim/unknown/MassSpringDamper1/MassSpringDamper1.fmu": Expected(warnings=True),
    "20-sim/unknown/Body_Block/Body_Block.fmu": Expected(warnings=True),
    "20-sim/unknown/singlewatertank-20sim/singlewatertank-20sim.fmu": Expected(
        warnings=True, misnamed_binary=True
    ),
    "INTO-CPS-C/unknown/watertankcontroller-c/watertankcontroller-c.fmu": Expected(
        warnings=True, misnamed_binary=True
    ),
    "AltairActivate/unknown/sinewave_array/sinewave_array.fmu": Expected(),
    # Clocks: fmpy cannot instantiate it without event mode (plain fmpy fails the same way).
    "AltairActivate/unknown/periodic_clock/periodic_clock.fmu": Expected(
        validation="failed", warnings=True, job="failed:simulation_error"
    ),
    "FMUSDK-via-PyFMI/ME1.0/bouncingBall/bouncingBall.fmu": Expected(),
    "FMUSDK-via-PyFMI/CS1.0/bouncingBall/bouncingBall.fmu": Expected(),
    "FMUSDK-via-PyFMI/ME2.0/bouncingBall/bouncingBall.fmu": Expected(),
    "FMUSDK-via-PyFMI/CS2.0/bouncingBall/bouncingBall.fmu": Expected(),
    # Never finishes under plain fmpy, its memory growing: contained by the limits.
    "Overture/0.1.7/watertankController-Standalone/watertankController-Standalone.fmu": Expected(
        validation="failed", warnings=True, job=CONTAINED
    ),
    "negative/empty_file/illegal.fmu": Expected(upload="not_a_zip"),
    "negative/xml_only/pump_mocked.fmu": Expected(upload="missing_binary"),
    "negative/win_only/bouncingBall_FMUSDK_cs.fmu": Expected(upload="no_linux_binary"),
    # Windows binaries only; its incomplete ModelStructure/Outputs is a warning, as for fmpy.
    "negative/malformed/MalFormed.fmu": Expected(upload="no_linux_binary"),
}


@dataclass
class Outcome:
    upload: str
    validation: str = "-"
    warnings: bool = False
    job: str = "-"
    detail: str = ""

    def row(self, relative: str) -> str:
        flags = " (warnings)" if self.warnings else ""
        return (
            f"{relative:78} upload={self.upload:18} validation={self.validation + flags:20} "
            f"job={self.job} {self.detail}"
        )


def upload_raw(client, slug: str, path: Path):
    return client.post(
        f"/api/v1/packages/{slug}/versions?version=1.0.0",
        data=path.read_bytes(),
        content_type="application/octet-stream",
        HTTP_CONTENT_DISPOSITION=f'attachment; filename="{path.name}"',
    )


def fmpy_reference(path: Path, kwargs: dict, workdir: Path, misnamed: bool) -> np.ndarray:
    """Plain ``fmpy.simulate_fmu``; for a misnamed binary, on an extracted copy whose one
    Linux library carries the modelIdentifier's name (what the gateway loads)."""
    if not misnamed:
        return fmpy.simulate_fmu(str(path), **kwargs)
    unpacked = workdir / "unpacked"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(unpacked)
    md = fmpy.read_model_description(str(path))
    folder = unpacked / "binaries" / "linux64"
    libraries = sorted(folder.glob("*.so"))
    assert len(libraries) == 1, libraries
    for interface in (md.coSimulation, md.modelExchange):
        if interface is not None:
            shutil.copy(libraries[0], folder / f"{interface.modelIdentifier}.so")
    return fmpy.simulate_fmu(str(unpacked), **kwargs)


def same_result(body: dict, plain: np.ndarray) -> str:
    names = plain.dtype.names or ()
    if list(body["columns"]) != list(names) or body["rows"] != len(plain):
        return f"different shape: {body['rows']} rows vs {len(plain)}"
    for name in names:
        got = np.asarray([np.nan if v is None else v for v in body["columns"][name]])
        expected = np.asarray(plain[name], dtype=got.dtype if got.dtype.kind == "f" else None)
        if not np.array_equal(got, expected, equal_nan=got.dtype.kind == "f"):
            return f"column {name} differs"
    return ""


def run_corpus_file(client, capture, owner, relative: str, workdir: Path) -> Outcome:
    path = require_shared_fmus() / relative
    package = PackageFactory.create(owner=owner)
    with run_eagerly(capture):  # the upload's validation runs on commit, here
        response = upload_raw(client, package.slug, path)
    if response.status_code != 201:
        body = response.json()
        return Outcome(upload=body.get("code", str(response.status_code)), detail=body["detail"])
    version = PackageVersion.objects.get(pk=response.json()["id"])
    run = version.validation_runs.get()
    report = run.report
    validation = client.get(f"/api/v1/packages/{package.slug}/versions/1.0.0/validation").json()
    outcome = Outcome(
        upload="201",
        validation=run.status,
        warnings=bool(validation["report"].get("warnings")),
        detail="; ".join(report.get("reasons", [])),
    )
    with run_eagerly(capture):
        response = client.post("/api/v1/jobs", {"version_id": version.pk}, format="json")
    if response.status_code != 201:
        outcome.job = f"refused:{response.json()['code']}"
        return outcome
    job = SimulationJob.objects.get(pk=response.json()["id"])
    if job.status != JobStatus.SUCCEEDED:
        outcome.job = f"{job.status}:{job.error_code}"
        outcome.detail += f" | {job.error_message[:160]}"
        return outcome
    body = client.get(f"/api/v1/jobs/{job.pk}/results").json()
    effective = EffectiveSettings.from_job(job.settings, job.inputs)
    expected = EXPECTED.get(relative, Expected())
    try:
        plain = fmpy_reference(path, effective.fmpy_kwargs(), workdir, expected.misnamed_binary)
    except Exception as exc:
        outcome.job = "succeeded (plain fmpy fails)"
        outcome.detail += f" | fmpy: {exc}"
        return outcome
    difference = same_result(body, plain)
    outcome.job = SAME if not difference else f"succeeded but {difference}"
    return outcome


def test_every_corpus_file_has_an_expectation():
    require_shared_fmus()
    assert sorted(EXPECTED) == list_shared_fmus()


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_corpus_file_end_to_end(
    relative,
    creator,
    creator_client,
    eager_jobs,
    settings,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    # The FMU that never finishes must not hold the run for minutes.
    settings.VALIDATION_WALL_SECONDS = 10
    settings.JOB_DEFAULT_TIMEOUT_SECONDS = 10
    settings.SIMULATION_MEMORY_MB = 1024

    outcome = run_corpus_file(
        creator_client, django_capture_on_commit_callbacks, creator, relative, tmp_path
    )
    print("\nCORPUS", outcome.row(relative))

    expected = EXPECTED[relative]
    assert outcome.upload == expected.upload, outcome
    if expected.upload != "201":
        return
    assert outcome.validation == expected.validation, outcome
    assert outcome.warnings == expected.warnings, outcome
    if expected.job == SAME:
        assert outcome.job == SAME, outcome
    elif expected.job == CONTAINED:
        assert outcome.job in LIMIT_CODES, outcome
    else:
        status, _, code = expected.job.partition(":")
        assert outcome.job.startswith(f"{status}:" if not code else expected.job), outcome
