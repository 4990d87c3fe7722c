"""Tests for registry.inspection: real FMUs from ../shared/fmus and hostile archives."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from fmugateway.testing import list_shared_fmus, require_shared_fmus, shared_fmus_dir
from registry.inspection import (
    DEFAULT_LIMITS,
    ERROR_CODES,
    FmuInspection,
    InspectionError,
    InspectionLimits,
    Variable,
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
    # ModelStructure/Outputs is incomplete, a warning only (fmpy runs through it); Windows only.
    "negative/malformed/MalFormed.fmu": "no_linux_binary",
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
        "renamed",  # the only binary is singlewatertank-20sim.so: loaded, with a warning
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
        "renamed",  # the only binary is watertankcontroller-c.so: loaded, with a warning
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
    assert result.runnable is bool(runnable)
    assert all(i.library_renamed is (runnable == "renamed") for i in result.interfaces)
    assert "x86_64-linux" in {p.name for p in result.platforms}
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.size == path.stat().st_size
    assert len(result.model_description_sha256) == 64
    json.dumps(result.to_dict())  # JSON-serialisable model card
    if runnable == "renamed":
        assert any("the gateway loads that library" in w for w in result.warnings)


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


@pytest.mark.parametrize("version", ["4.0", "2.1", "", "3.0-beta.3"])
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


def test_the_only_misnamed_binary_is_loaded_with_a_warning(tmp_path: Path, clean_so: bytes) -> None:
    path = fb.write_fmu(
        tmp_path / "x.fmu",
        {"binaries/linux64/other.so": clean_so},
        model_description=fb.model_description_xml(),
    )
    result = inspect_fmu(path)
    assert result.runnable
    (interface,) = result.interfaces
    assert (interface.library, interface.library_renamed) == ("binaries/linux64/other.so", True)
    assert any("other.so" in w and "loads that library" in w for w in result.warnings)


def test_several_misnamed_binaries_are_not_runnable(tmp_path: Path, clean_so: bytes) -> None:
    path = fb.write_fmu(
        tmp_path / "x.fmu",
        {"binaries/linux64/other.so": clean_so, "binaries/linux64/helper.so": clean_so},
        model_description=fb.model_description_xml(),
    )
    result = inspect_fmu(path)
    assert not result.runnable
    assert result.interfaces[0].library is None
    assert any("'other.so'" in w and "'helper.so'" in w for w in result.warnings)


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


# ----------------------------------------------------------------------------- streaming reader


def _fmpy_variables(md) -> list[Variable]:
    """The model card's variables as the inspection derived them from fmpy's model (the
    reference for the streaming reader)."""
    out = []
    for v in md.modelVariables:
        declared = v.declaredType
        shape = None
        if getattr(v, "dimensions", None):
            try:
                shape = [int(d.start) for d in v.dimensions]
            except (TypeError, ValueError):
                shape = None
        out.append(
            Variable(
                name=v.name,
                value_reference=v.valueReference,
                causality=v.causality,
                variability=v.variability,
                type=v.type,
                unit=v.unit or (declared.unit if declared is not None else None),
                start=v.start,
                min=v.min if v.min is not None else getattr(declared, "min", None),
                max=v.max if v.max is not None else getattr(declared, "max", None),
                nominal=v.nominal if v.nominal is not None else getattr(declared, "nominal", None),
                description=v.description,
                initial=v.initial,
                declared_type=declared.name if declared is not None else None,
                shape=shape,
            )
        )
    return out


STREAMING = InspectionLimits(full_validation_max_bytes=0)  # as for a description of 2 MB+

FMI3_FEATURES = """<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="3.0" modelName="Arrays" instantiationToken="{a}">
  <CoSimulation modelIdentifier="model" canHandleVariableCommunicationStepSize="true"/>
  <UnitDefinitions><Unit name="m"/></UnitDefinitions>
  <TypeDefinitions><Float64Type name="Length" unit="m" min="0" nominal="2"/></TypeDefinitions>
  <ModelVariables>
    <Float64 name="time" valueReference="0" causality="independent" variability="continuous"/>
    <UInt64 name="n" valueReference="1" causality="structuralParameter" variability="fixed"
      start="3"/>
    <Float64 name="x" valueReference="2" declaredType="Length" start="1 2 3" initial="exact">
      <Dimension valueReference="1"/>
      <Alias name="x_alias" description="the same x"/>
    </Float64>
    <Float64 name="der(x)" valueReference="3" derivative="2" start="0 0 0" initial="exact">
      <Dimension valueReference="1"/>
    </Float64>
    <Float64 name="y" valueReference="4" causality="output" start="0 0" initial="exact">
      <Dimension start="2"/>
    </Float64>
    <UInt8 name="level" valueReference="5" causality="parameter" variability="tunable"
      start="3" min="1" max="7"/>
    <String name="label" valueReference="6" causality="parameter" variability="fixed">
      <Start value="hello"/>
    </String>
  </ModelVariables>
  <ModelStructure>
    <Output valueReference="4"/>
    <ContinuousStateDerivative valueReference="3"/>
    <InitialUnknown valueReference="4"/>
  </ModelStructure>
</fmiModelDescription>
"""


@pytest.fixture(scope="module")
def reference_fmus(tmp_path_factory, sample_fmus, clean_so: bytes) -> list[Path]:
    folder = tmp_path_factory.mktemp("reference")
    synthetic = fb.write_fmu(
        folder / "arrays.fmu",
        {"binaries/x86_64-linux/model.so": clean_so},
        model_description=FMI3_FEATURES,
    )
    shared = [shared_fmus_dir() / relative for relative in sorted(ACCEPTED)]
    samples = [sample.fmu_path for sample in sample_fmus.values()]
    return [path for path in [*shared, *samples, synthetic] if path.is_file()]


@pytest.mark.parametrize("limits", [DEFAULT_LIMITS, STREAMING], ids=["fmpy", "streaming"])
def test_streamed_model_card_matches_fmpy(reference_fmus: list[Path], limits) -> None:
    import fmpy

    for path in reference_fmus:
        card = inspect_fmu(path, limits)
        md = fmpy.read_model_description(str(path))
        assert list(card.variables) == _fmpy_variables(md), path
        assert card.number_of_continuous_states == md.numberOfContinuousStates, path
        assert card.number_of_event_indicators == (md.numberOfEventIndicators or 0), path
        assert card.instantiation_token == md.guid, path


def test_fmi3_arrays_aliases_and_declared_types(reference_fmus: list[Path]) -> None:
    card = inspect_fmu(next(p for p in reference_fmus if p.name == "arrays.fmu"), STREAMING)
    by_name = {v.name: v for v in card.variables}
    assert [v.name for v in card.variables][-1] == "x_alias"  # aliases come last, as in fmpy
    assert (by_name["x"].unit, by_name["x"].min, by_name["x"].nominal) == ("m", "0", "2")
    assert by_name["x"].declared_type == "Length" and by_name["x"].shape is None
    assert by_name["y"].shape == [2]
    assert by_name["x_alias"].description == "the same x"
    assert by_name["label"].start == "hello"
    assert card.number_of_continuous_states == 3  # der(x) has n = 3 elements
    assert card.interfaces[0].can_handle_variable_step_size is True


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        (('causality="input"', 'causality="sideways"'), "invalid_model_description", "sideways"),
        (
            ('<Real start="1.5"', '<Real declaredType="Nope" start="1.5"'),
            "invalid_model_description",
            "Nope",
        ),
        (
            ('<Unknown index="3"/></Outputs>', '<Unknown index="9"/></Outputs>'),
            "invalid_model_description",
            "index 9",
        ),
        (("<ModelVariables>", "<ModelVariables><Oops"), "malformed_model_description", "line"),
    ],
)
def test_large_descriptions_are_checked_while_streaming(
    tmp_path: Path, clean_so: bytes, change, code: str, words: str
) -> None:
    xml = fb.model_description_xml().replace(*change)
    path = fb.write_fmu(
        tmp_path / "x.fmu", {"binaries/linux64/model.so": clean_so}, model_description=xml
    )
    error = rejected(path, code, STREAMING)
    assert words in error.detail


@pytest.mark.parametrize(
    "xml_factory",
    [
        fb.billion_laughs_model_description,
        fb.external_dtd_model_description,
    ],
)
def test_streaming_refuses_any_doctype(tmp_path: Path, xml_factory) -> None:
    path = fb.write_fmu(tmp_path / "x.fmu", {}, model_description=xml_factory())
    started = time.perf_counter()
    rejected(path, "xml_entities_forbidden", STREAMING)
    assert time.perf_counter() - started < 0.5


@pytest.mark.slow
def test_large_description_is_read_with_little_memory(tmp_path: Path, clean_so: bytes) -> None:
    from registry.tests.memory import PeakRss

    xml = fb.many_variables_model_description(100_000)
    path = fb.write_fmu(
        tmp_path / "large.fmu", {"binaries/linux64/model.so": clean_so}, model_description=xml
    )
    del xml
    with PeakRss() as memory:
        started = time.perf_counter()
        card = inspect_fmu(path)
        elapsed = time.perf_counter() - started
        assert sum(1 for _ in card.variables) == 100_003
    assert card.number_of_variables == 100_003
    assert memory.growth_mb < 50  # fmpy's model of the same description: ~300 MB
    assert elapsed < 5


# ----------------------------------------------------------------------------- compatibility


def test_identical_duplicate_entries_are_accepted_with_a_warning(
    tmp_path: Path, clean_so: bytes
) -> None:
    library = fb.RawEntry("binaries/linux64/model.so", clean_so)
    path = fb.write_raw_zip(
        tmp_path / "x.fmu",
        [
            fb.md_entry(),
            fb.RawEntry("binaries/"),
            fb.RawEntry("binaries/linux64/"),
            fb.RawEntry("binaries/"),  # a folder added twice (Reference-FMUs builds do this)
            library,
            fb.RawEntry(
                "binaries/linux64/model.so",
                fb.deflate(clean_so),
                method=8,
                crc=zlib.crc32(clean_so),
                size=len(clean_so),
            ),
        ],
    )
    result = inspect_fmu(path)
    assert result.runnable
    assert [e.name for e in result.entries].count("binaries/linux64/model.so") == 1
    assert any("more than once with identical content" in w for w in result.warnings)


def test_duplicate_entries_with_different_content_stay_refused(tmp_path: Path) -> None:
    path = fb.write_raw_zip(
        tmp_path / "x.fmu",
        [
            fb.md_entry(),
            fb.RawEntry("resources/a.txt", b"ab"),
            fb.RawEntry("resources/a.txt", b"ba"),
        ],
    )
    error = rejected(path, "duplicate_entry")
    assert "different content" in error.detail


@pytest.mark.parametrize("version", ["3.0-beta.3", "3.0-rc.1", "3.0.0.1"])
def test_prerelease_fmi_versions_are_unsupported(tmp_path: Path, version: str) -> None:
    xml = fb.model_description_xml().replace('fmiVersion="2.0"', f'fmiVersion="{version}"')
    path = fb.write_fmu(tmp_path / "x.fmu", {}, model_description=xml)
    error = rejected(path, "unsupported_fmi_version")
    assert version in error.detail


def test_scheduled_execution_only_is_named_as_not_runnable(tmp_path: Path, clean_so: bytes) -> None:
    path = fb.write_fmu(
        tmp_path / "se.fmu",
        {"binaries/x86_64-linux/model.so": clean_so},
        model_description=fb.SCHEDULED_ONLY,
    )
    result = inspect_fmu(path)
    (interface,) = result.interfaces
    assert (interface.kind, interface.supported, interface.library) == (
        "ScheduledExecution",
        False,
        "binaries/x86_64-linux/model.so",
    )
    assert not result.runnable
    assert any(
        "cannot execute FMI 3 Scheduled Execution" in w and "cannot be run" in w
        for w in result.warnings
    )
