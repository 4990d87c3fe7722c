"""Tests for registry.inspection: real FMUs from ../shared/fmus and hostile archives."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import zipfile
from pathlib import Path

import pytest

from fmugateway.testing import list_shared_fmus, require_shared_fmus, shared_fmus_dir
from registry.inspection import (
    ERROR_CODES,
    FmuInspection,
    InspectionError,
    InspectionLimits,
    inspect_fmu,
)
from registry.tests import fmu_builders as fb

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def clean_so(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("so") / "model.so"
    return fb.compile_c(fb.CLEAN_FMI2_SOURCE, out).read_bytes()


def rejected(path: Path, code: str, limits: InspectionLimits | None = None) -> InspectionError:
    with pytest.raises(InspectionError) as info:
        if limits is None:
            inspect_fmu(path)
        else:
            inspect_fmu(path, limits)
    assert info.value.code == code, info.value
    assert code in ERROR_CODES
    assert info.value.detail  # a sentence for the creator
    return info.value


# ----------------------------------------------------------------------------- real FMUs

# relative path -> expected error code, or facts of the model card
REJECTED = {
    "negative/empty_file/illegal.fmu": "not_a_zip",
    "negative/malformed/MalFormed.fmu": "invalid_model_description",
    "negative/xml_only/pump_mocked.fmu": "missing_binary",
    "negative/win_only/bouncingBall_FMUSDK_cs.fmu": "no_linux_binary",
}
# (fmi version, model name, #variables, {interface kind: modelIdentifier}, runnable)
ACCEPTED = {
    "Dymola/2020/0004_Atmos/0004_Atmos.fmu": ("2.0", "atmos", 5, {"CoSimulation": "atmos"}, True),
    "Dymola/2024x/edrive_mass/edrive_mass.fmu": (
        "2.0",
        "edrive_mass",
        15,
        {"ModelExchange": "edrive_mass", "CoSimulation": "edrive_mass"},
        True,
    ),
    "Dymola/2025x/Consumer/Consumer.fmu": (
        "2.0",
        "Consumer",
        75,
        {"CoSimulation": "Consumer"},
        True,
    ),
    "Dymola/2016/pump/pump.fmu": (
        "2.0",
        "pump",
        16,
        {"ModelExchange": "pump", "CoSimulation": "pump"},
        True,
    ),
    "OpenModelica/1.18/0001_addP/0001_addP.fmu": (
        "2.0",
        "Modelica.Blocks.Math.Add",
        5,
        {"ModelExchange": "Modelica_Blocks_Math_Add", "CoSimulation": "Modelica_Blocks_Math_Add"},
        True,
    ),
    "20-sim/unknown/singlewatertank-20sim/singlewatertank-20sim.fmu": (
        "2.0",
        "SingleWatertank",
        37,
        {"CoSimulation": "SingleWatertank"},
        False,  # binary is singlewatertank-20sim.so: accepted with a warning
    ),
    "20-sim/unknown/MassSpringDamper1/MassSpringDamper1.fmu": (
        "2.0",
        "MassSpringDamper1",
        9,
        {"CoSimulation": "MassSpringDamper1"},
        True,
    ),
    "20-sim/unknown/Body_Block/Body_Block.fmu": (
        "2.0",
        "Body_Block",
        459,
        {"CoSimulation": "Body_Block"},
        True,
    ),
    "INTO-CPS-C/unknown/watertankcontroller-c/watertankcontroller-c.fmu": (
        "2.0",
        "tankcontroller",
        4,
        {"CoSimulation": "tankcontroller"},
        False,  # binary is watertankcontroller-c.so: accepted with a warning
    ),
    "AltairActivate/unknown/periodic_clock/periodic_clock.fmu": (
        "3.0",
        "periodic_clock",
        8,
        {"ModelExchange": "periodic_clock", "CoSimulation": "periodic_clock"},
        True,
    ),
    "AltairActivate/unknown/sinewave_array/sinewave_array.fmu": (
        "3.0",
        "sinewave_array",
        6,
        {"ModelExchange": "sinewave_array", "CoSimulation": "sinewave_array"},
        True,
    ),
    "FMUSDK-via-PyFMI/ME1.0/bouncingBall/bouncingBall.fmu": (
        "1.0",
        "bouncingBall",
        6,
        {"ModelExchange": "bouncingBall"},
        True,
    ),
    "FMUSDK-via-PyFMI/CS1.0/bouncingBall/bouncingBall.fmu": (
        "1.0",
        "bouncingBall",
        6,
        {"CoSimulation": "bouncingBall"},
        True,
    ),
    "FMUSDK-via-PyFMI/ME2.0/bouncingBall/bouncingBall.fmu": (
        "2.0",
        "bouncingBall",
        6,
        {"ModelExchange": "bouncingBall"},
        True,
    ),
    "FMUSDK-via-PyFMI/CS2.0/bouncingBall/bouncingBall.fmu": (
        "2.0",
        "bouncingBall",
        6,
        {"CoSimulation": "bouncingBall"},
        True,
    ),
    "Overture/0.1.7/watertankController-Standalone/watertankController-Standalone.fmu": (
        "2.0",
        "watertankController-Standalone",
        4,
        {"CoSimulation": "watertankController-Standalone"},
        True,
    ),
}


def test_every_shared_fmu_has_an_expectation() -> None:
    folder = require_shared_fmus()
    found = {p.relative_to(folder).as_posix() for p in folder.rglob("*.fmu")}
    assert found, f"no FMUs under {folder}"
    assert found <= set(ACCEPTED) | set(REJECTED), found - set(ACCEPTED) - set(REJECTED)


@pytest.mark.parametrize("relative", sorted(REJECTED))
def test_shared_negative_fmus_are_rejected(relative: str) -> None:
    path = require_shared_fmus() / relative
    rejected(path, REJECTED[relative])


@pytest.mark.parametrize("relative", sorted(ACCEPTED))
def test_shared_good_fmus_pass(relative: str) -> None:
    path = require_shared_fmus() / relative
    version, name, n_vars, interfaces, runnable = ACCEPTED[relative]
    result = inspect_fmu(path)
    assert result.fmi_version == version
    assert result.model_name == name
    assert result.number_of_variables == n_vars
    assert {i.kind: i.model_identifier for i in result.interfaces} == interfaces
    assert result.runnable is runnable
    assert "x86_64-linux" in {p.name for p in result.platforms}
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.size == path.stat().st_size
    assert len(result.model_description_sha256) == 64
    json.dumps(result.to_dict())  # JSON-serialisable model card
    if not runnable:
        assert any("modelIdentifier" in w for w in result.warnings)


def test_shared_model_card_facts() -> None:
    folder = require_shared_fmus()
    ball = inspect_fmu(folder / "FMUSDK-via-PyFMI/ME2.0/bouncingBall/bouncingBall.fmu")
    h = next(v for v in ball.variables if v.name == "h")
    assert (h.causality, h.variability, h.start, h.initial) == ("local", "continuous", "1", "exact")
    e = next(v for v in ball.variables if v.name == "e")
    assert (e.min, e.max, e.variability) == ("0.5", "1", "tunable")
    assert ball.has_sources and ball.has_documentation
    assert ball.number_of_continuous_states == 2
    assert ball.number_of_event_indicators == 1
    assert ball.default_experiment is None

    drive = inspect_fmu(folder / "Dymola/2024x/edrive_mass/edrive_mass.fmu")
    by_name = {v.name: v for v in drive.variables}
    assert (by_name["wA"].causality, by_name["wA"].unit) == ("output", "rad/s")  # declared
    inertia = by_name["inertia.J"]  # unit only via its type definition
    assert (inertia.unit, inertia.declared_type) == ("kg.m2", "Modelica.Units.SI.Inertia")
    assert (inertia.causality, inertia.start) == ("parameter", "0.002")
    assert drive.default_experiment is not None
    assert (drive.default_experiment.stop_time, drive.default_experiment.tolerance) == (1.0, 1e-4)

    clock = inspect_fmu(folder / "AltairActivate/unknown/periodic_clock/periodic_clock.fmu")
    assert clock.instantiation_token == "{Activate-inline-CG-2023  6  22  15  8  35}"
    assert [p.folder for p in clock.platforms] == ["x86_64-linux"]
    assert {v.type for v in clock.variables} >= {"Float64", "Clock"}
    assert clock.default_experiment is not None
    assert clock.default_experiment.step_size == 0.1

    me1 = inspect_fmu(folder / "FMUSDK-via-PyFMI/ME1.0/bouncingBall/bouncingBall.fmu")
    linux64 = next(p for p in me1.platforms if p.folder == "linux64")
    assert linux64.name == "x86_64-linux" and linux64.model_identifiers == ["bouncingBall"]
    assert {p.name for p in me1.platforms} >= {"x86-darwin", "x86_64-windows", "x86-linux"}

    dymola = inspect_fmu(folder / "Dymola/2016/pump/pump.fmu")
    assert dymola.generation_tool == "Dymola Version 2016 (64-bit), 2015-04-15"
    elf = next(b for b in dymola.binaries if b.path == "binaries/linux64/pump.so")
    assert (elf.format, elf.elf_class, elf.machine, elf.elf_type) == (
        "elf",
        64,
        "EM_X86_64",
        "ET_DYN",
    )


def test_shared_fmus_are_fast() -> None:
    folder = require_shared_fmus()
    inspect_fmu(folder / "Dymola/2016/pump/pump.fmu")  # warm imports
    for relative in list_shared_fmus():
        started = time.perf_counter()
        with contextlib.suppress(InspectionError):
            inspect_fmu(folder / relative)
        elapsed = time.perf_counter() - started
        # The target is 200 ms (see bench/bench_inspection.py); leave room for busy CI.
        assert elapsed < 1.0, (relative, elapsed)


# ----------------------------------------------------------------------------- synthetic


def test_valid_synthetic_fmu(tmp_path: Path, clean_so: bytes) -> None:
    path = fb.valid_fmu(tmp_path / "ok.fmu", clean_so, extra={"sources/model.c": "int x;"})
    result = inspect_fmu(path)
    assert isinstance(result, FmuInspection)
    assert result.model_name == "TestModel"
    assert result.description == "synthetic test model"
    assert [(i.kind, i.model_identifier, i.runnable) for i in result.interfaces] == [
        ("CoSimulation", "model", True)
    ]
    k = next(v for v in result.variables if v.name == "k")
    assert (k.unit, k.min, k.max, k.start, k.causality, k.variability, k.initial) == (
        "m",
        "0",
        "10",
        "1.5",
        "parameter",
        "fixed",
        "exact",
    )
    assert result.has_sources and not result.has_documentation
    assert {e.name for e in result.entries} == {
        "modelDescription.xml",
        "binaries/linux64/model.so",
        "sources/model.c",
    }
    assert result.warnings == []
    data = json.loads(json.dumps(result.to_dict()))
    assert data["runnable"] is True and data["number_of_variables"] == 3


def test_precomputed_sha256_is_used(tmp_path: Path, clean_so: bytes) -> None:
    path = fb.valid_fmu(tmp_path / "ok.fmu", clean_so)
    assert inspect_fmu(path, sha256="ab" * 32).sha256 == "ab" * 32


@pytest.mark.parametrize("content", [b"", b"hello world", b"PK\x03\x04garbage"])
def test_not_a_zip(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.fmu"
    path.write_bytes(content)
    rejected(path, "not_a_zip")


def test_polyglot_is_not_a_zip(tmp_path: Path) -> None:
    rejected(fb.polyglot_fmu(tmp_path / "x.fmu"), "not_a_zip")


@pytest.mark.parametrize(
    ("builder", "code"),
    [
        (fb.zip_slip_fmu, "unsafe_path"),
        (fb.absolute_path_fmu, "unsafe_path"),
        (fb.backslash_fmu, "unsafe_path"),
        (fb.symlink_fmu, "symlink_entry"),
        (fb.fifo_fmu, "special_file"),
        (fb.duplicate_entry_fmu, "duplicate_entry"),
        (fb.encrypted_entry_fmu, "encrypted_entry"),
        (fb.overlapping_entries_fmu, "zip_bomb"),
        (fb.lying_size_fmu, "corrupt_archive"),
    ],
)
def test_hostile_archives(tmp_path: Path, builder, code: str) -> None:
    rejected(builder(tmp_path / "hostile.fmu"), code)


def test_declared_size_bomb_is_rejected_without_decompressing(tmp_path: Path) -> None:
    path = fb.declared_size_bomb_fmu(tmp_path / "bomb.fmu", declared=10 * 1024**3)
    assert path.stat().st_size < 8 * 1024
    with zipfile.ZipFile(path) as zf:  # the header really declares 10 GiB
        assert sum(i.file_size for i in zf.infolist()) >= 10 * 1024**3
    started = time.perf_counter()
    rejected(path, "zip_bomb")
    assert time.perf_counter() - started < 0.5


def test_declared_total_over_limit(tmp_path: Path) -> None:
    path = fb.declared_size_bomb_fmu(tmp_path / "bomb.fmu", declared=900 * 1024**2)
    limits = InspectionLimits(max_total_uncompressed=512 * 1024**2, max_compression_ratio=1e12)
    error = rejected(path, "zip_bomb", limits)
    assert "uncompressed" in error.detail


def test_high_ratio_bomb(tmp_path: Path) -> None:
    path = fb.zeros_bomb_fmu(tmp_path / "zeros.fmu", size=16 * 1024**2)
    assert path.stat().st_size < 100 * 1024
    error = rejected(path, "zip_bomb")
    assert error.location == "resources/zeros.bin"


def test_too_many_entries(tmp_path: Path) -> None:
    path = fb.many_entries_fmu(tmp_path / "many.fmu", count=100_000)
    started = time.perf_counter()
    rejected(path, "too_many_entries")
    assert time.perf_counter() - started < 0.5  # refused from the end record alone


def test_too_many_entries_custom_limit(tmp_path: Path) -> None:
    path = fb.many_entries_fmu(tmp_path / "many.fmu", count=20)
    rejected(path, "too_many_entries", InspectionLimits(max_entries=10))


def test_missing_model_description(tmp_path: Path) -> None:
    path = fb.write_fmu(tmp_path / "x.fmu", {"binaries/linux64/model.so": b"\x7fELF"})
    rejected(path, "missing_model_description")


def test_nested_model_description_is_missing(tmp_path: Path) -> None:
    path = fb.write_fmu(
        tmp_path / "x.fmu", {"model/modelDescription.xml": fb.model_description_xml()}
    )
    rejected(path, "missing_model_description")


def test_model_description_too_large(tmp_path: Path, clean_so: bytes) -> None:
    path = fb.valid_fmu(tmp_path / "x.fmu", clean_so)
    rejected(path, "model_description_too_large", InspectionLimits(max_model_description_size=512))


def test_malformed_model_description(tmp_path: Path) -> None:
    path = fb.write_fmu(
        tmp_path / "x.fmu", {}, model_description="<fmiModelDescription fmiVersion='2.0'>"
    )
    error = rejected(path, "malformed_model_description")
    assert "line" in error.detail


def test_xxe_is_refused_and_does_not_leak(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    path = fb.write_fmu(tmp_path / "x.fmu", {}, model_description=fb.xxe_model_description(secret))
    error = rejected(path, "xml_entities_forbidden")
    assert "TOP-SECRET" not in str(error.to_dict())


def test_billion_laughs(tmp_path: Path) -> None:
    path = fb.write_fmu(
        tmp_path / "x.fmu", {}, model_description=fb.billion_laughs_model_description()
    )
    started = time.perf_counter()
    rejected(path, "xml_entities_forbidden")
    assert time.perf_counter() - started < 0.5


def test_external_dtd(tmp_path: Path) -> None:
    path = fb.write_fmu(
        tmp_path / "x.fmu", {}, model_description=fb.external_dtd_model_description()
    )
    rejected(path, "xml_entities_forbidden")


@pytest.mark.parametrize("version", ["4.0", "2.1", ""])
def test_unsupported_fmi_version(tmp_path: Path, version: str) -> None:
    xml = fb.model_description_xml().replace('fmiVersion="2.0"', f'fmiVersion="{version}"')
    path = fb.write_fmu(tmp_path / "x.fmu", {}, model_description=xml)
    rejected(path, "unsupported_fmi_version")


def test_invalid_model_description_has_fmpy_message(tmp_path: Path) -> None:
    xml = fb.model_description_xml().replace('causality="input"', 'causality="sideways"')
    path = fb.write_fmu(tmp_path / "x.fmu", {}, model_description=xml)
    error = rejected(path, "invalid_model_description")
    assert "sideways" in error.detail


def test_missing_binary(tmp_path: Path) -> None:
    path = fb.write_fmu(
        tmp_path / "x.fmu", {"resources/a.txt": "1"}, model_description=fb.model_description_xml()
    )
    error = rejected(path, "missing_binary")
    assert "model" in error.detail


def test_windows_only_is_rejected_or_warned(tmp_path: Path) -> None:
    path = fb.write_fmu(
        tmp_path / "x.fmu",
        {"binaries/win64/model.dll": b"MZ" + b"\0" * 62},
        model_description=fb.model_description_xml(),
    )
    rejected(path, "no_linux_binary")
    result = inspect_fmu(path, InspectionLimits(require_linux_binary=False))
    assert not result.runnable
    assert [p.name for p in result.platforms] == ["x86_64-windows"]
    assert any(w.startswith("no linux binary") for w in result.warnings)


def test_sources_only_is_no_linux_binary(tmp_path: Path) -> None:
    path = fb.write_fmu(
        tmp_path / "x.fmu",
        {"sources/model.c": "int x;"},
        model_description=fb.model_description_xml(),
    )
    error = rejected(path, "no_linux_binary")
    assert "sources only" in error.detail


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"this is not an ELF file at all" * 10, "not an ELF"),
        (fb.x86_64_executable_header(), "executable"),
        (fb.aarch64_shared_object(), "EM_AARCH64"),
        (fb.i386_shared_object(), "32-bit"),
        (fb.garbage_elf(), "cannot be parsed"),
    ],
)
def test_invalid_elf(tmp_path: Path, payload: bytes, why: str) -> None:
    path = fb.valid_fmu(tmp_path / "x.fmu", payload)
    error = rejected(path, "invalid_elf")
    assert why in error.detail
    assert error.location == "binaries/linux64/model.so"


def test_pie_executable_is_invalid_elf(tmp_path: Path) -> None:
    exe = fb.compile_c(
        fb.EXECUTABLE_SOURCE, tmp_path / "prog", shared=False, flags=["-pie", "-fPIE"]
    )
    path = fb.valid_fmu(tmp_path / "x.fmu", exe.read_bytes())
    error = rejected(path, "invalid_elf")
    assert "executable" in error.detail


def test_fmi3_folder_names(tmp_path: Path, clean_so: bytes) -> None:
    path = fb.valid_fmu(tmp_path / "x.fmu", clean_so, folder="x86_64-linux")
    result = inspect_fmu(path)
    assert result.runnable
    assert [(p.name, p.folder) for p in result.platforms] == [("x86_64-linux", "x86_64-linux")]


def test_binary_name_mismatch_is_a_warning(tmp_path: Path, clean_so: bytes) -> None:
    path = fb.write_fmu(
        tmp_path / "x.fmu",
        {"binaries/linux64/other.so": clean_so},
        model_description=fb.model_description_xml(),
    )
    result = inspect_fmu(path)
    assert not result.runnable
    assert any("other.so" in w for w in result.warnings)


def test_error_codes_are_snake_case() -> None:
    for code in ERROR_CODES:
        assert code.replace("_", "").isalpha() and code == code.lower()


def test_shared_fmus_helper_skips_or_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FMU_GATEWAY_SHARED_FMUS", str(tmp_path / "absent"))
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="absent"):
        require_shared_fmus()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_shared_fmus()
    monkeypatch.delenv("FMU_GATEWAY_SHARED_FMUS")
    assert shared_fmus_dir() == Path(__file__).resolve().parents[2].parent / "shared" / "fmus"
