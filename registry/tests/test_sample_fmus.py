"""The sample FMUs (samples/fmus) built by registry.samples, and registry.vectors.

The FMUs are built once per session by the ``sample_fmus`` fixture (conftest.py) and
simulated with fmpy against the committed, independently computed reference results.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import math
import re
import shutil
import zipfile
from pathlib import Path

import fmpy
import numpy as np
import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection
from fmpy.fmi1 import FMICallException
from fmpy.fmi2 import FMU2Slave
from fmpy.fmi3 import FMU3Slave
from fmpy.validation import validate_fmu

from registry.samples import (
    FMI_VERSIONS,
    SAMPLES_DIR,
    BuiltSample,
    CompilerNotFoundError,
    SampleBuildError,
    build_sample_fmus,
    fmi_headers_dir,
    instantiation_token,
    load_sample_model,
    load_sample_models,
)
from registry.vectors import (
    ReferenceFormatError,
    Tolerance,
    compare_to_reference,
    read_reference_csv,
)

SLUGS = [model.slug for model in load_sample_models()]
INTERFACES = ("ModelExchange", "CoSimulation")
PLATFORM_DIRS = {"2.0": "linux64", "3.0": "x86_64-linux"}

# name -> (causality, unit): written down independently of model.json on purpose
EXPECTED_VARIABLES = {
    "bouncing_ball": {
        "time": ("independent", "s"),
        "h": ("output", "m"),
        "v": ("output", "m/s"),
        "der(h)": ("local", "m/s"),
        "der(v)": ("local", "m/s2"),
        "g": ("parameter", "m/s2"),
        "e": ("parameter", None),
        "v_min": ("parameter", "m/s"),
    },
    "mass_spring_damper": {
        "time": ("independent", "s"),
        "x": ("output", "m"),
        "v": ("output", "m/s"),
        "a": ("output", "m/s2"),
        "der(x)": ("local", "m/s"),
        "der(v)": ("local", "m/s2"),
        "F": ("input", "N"),
        "m": ("parameter", "kg"),
        "k": ("parameter", "N/m"),
        "c": ("parameter", "N.s/m"),
    },
    "pi_controller": {
        "time": ("independent", "s"),
        "setpoint": ("input", None),
        "measurement": ("input", None),
        "error": ("output", None),
        "u": ("output", None),
        "integral": ("local", "s"),
        "der(integral)": ("local", None),
        "kp": ("parameter", None),
        "ki": ("parameter", "1/s"),
    },
}
# (number of continuous states, number of event indicators)
EXPECTED_SIZES = {"bouncing_ball": (2, 1), "mass_spring_damper": (2, 0), "pi_controller": (1, 0)}


def _closed_forms():
    """The independent closed-form solutions used to make the reference CSVs."""
    spec = importlib.util.spec_from_file_location(
        "make_references", SAMPLES_DIR / "make_references.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exported_symbols(fmu_path: Path, library: str) -> set[str]:
    with zipfile.ZipFile(fmu_path) as archive:
        elf = ELFFile(io.BytesIO(archive.read(library)))
        dynsym = elf.get_section_by_name(".dynsym")
        assert isinstance(dynsym, SymbolTableSection)
        return {
            symbol.name
            for symbol in dynsym.iter_symbols()
            if symbol["st_shndx"] != "SHN_UNDEF" and symbol["st_info"]["type"] == "STT_FUNC"
        }


def _declared_fmi_functions(fmi_version: str) -> set[str]:
    major = fmi_version[0]
    header = (fmi_headers_dir() / f"fmi{major}Functions.h").read_text(encoding="utf-8")
    return set(re.findall(rf"FMI{major}_Export\s+\w+TYPE\s+(fmi{major}\w+);", header))


def test_at_least_three_models_exist() -> None:
    assert sorted(SLUGS) == sorted(EXPECTED_VARIABLES)


def test_all_models_and_versions_are_built(sample_fmus: dict[tuple[str, str], BuiltSample]) -> None:
    assert set(sample_fmus) == {(slug, version) for slug in SLUGS for version in FMI_VERSIONS}
    for (slug, version), sample in sample_fmus.items():
        assert sample.fmu_path == sample.fmu_path.parent / f"{slug}.fmu"
        assert sample.fmu_path.parent.name == f"fmi{version[0]}"
        assert sample.reference_csv.is_file() and sample.tolerance_path.is_file()
        assert sample.reference_csv.parent == sample.fmu_path.parent
        assert sample.title and sample.summary and sample.description and sample.tags
        assert sample.interface_types == INTERFACES
        assert sample.sha256 == hashlib.sha256(sample.fmu_path.read_bytes()).hexdigest()
        assert sample.as_dict()["tolerance"] == sample.tolerance.to_dict()


@pytest.mark.parametrize("fmi_type", INTERFACES)
@pytest.mark.parametrize("fmi_version", FMI_VERSIONS)
@pytest.mark.parametrize("slug", SLUGS)
def test_simulation_matches_reference(
    sample_fmus: dict[tuple[str, str], BuiltSample], slug: str, fmi_version: str, fmi_type: str
) -> None:
    sample = sample_fmus[slug, fmi_version]
    result = fmpy.simulate_fmu(str(sample.fmu_path), fmi_type=fmi_type)
    tolerance = sample.tolerance
    assert tolerance.columns  # the committed tolerance names its columns explicitly

    report = compare_to_reference(
        result, sample.reference_csv, tolerance.columns, tolerance.rtol, tolerance.atol
    )

    assert report.passed, report.summary()
    reference = read_reference_csv(sample.reference_csv)
    assert result["time"][-1] == pytest.approx(reference["time"][-1])
    for column in report.columns:
        largest = float(np.abs(reference[column.name]).max())
        assert column.max_abs_error <= tolerance.atol + tolerance.rtol * largest, column


@pytest.mark.parametrize("fmi_version", FMI_VERSIONS)
@pytest.mark.parametrize("slug", SLUGS)
def test_model_description(
    sample_fmus: dict[tuple[str, str], BuiltSample], slug: str, fmi_version: str
) -> None:
    sample = sample_fmus[slug, fmi_version]
    md = fmpy.read_model_description(str(sample.fmu_path))

    assert md.fmiVersion == fmi_version
    assert md.modelExchange.modelIdentifier == slug
    assert md.coSimulation.modelIdentifier == slug
    assert md.guid == instantiation_token(load_sample_model(SAMPLES_DIR / slug), fmi_version)
    assert re.fullmatch(
        r"\{[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\}", md.guid
    )
    assert md.description == sample.summary
    experiment = md.defaultExperiment
    assert experiment.startTime is not None and experiment.stopTime is not None
    assert experiment.stepSize is not None and experiment.tolerance is not None
    assert (md.numberOfContinuousStates, md.numberOfEventIndicators) == EXPECTED_SIZES[slug]

    variables = {v.name: v for v in md.modelVariables}
    assert {name: (v.causality, v.unit) for name, v in variables.items()} == EXPECTED_VARIABLES[
        slug
    ]
    for v in variables.values():
        assert v.description, f"{v.name} has no description"
        assert v.type in ("Real", "Float64")
        if v.causality in ("parameter", "input"):
            assert v.start is not None, f"{v.name} needs a start value"
    # the state start values are settable (initial="exact"), so users can vary them
    for state in md.derivatives:
        assert state.variable.derivative.initial == "exact"
    # outputs of the reference are outputs of the model, so a plain simulation records them
    outputs = {v.name for v in variables.values() if v.causality == "output"}
    assert set(sample.tolerance.columns or ()) <= outputs


def test_parameter_ranges_are_declared(sample_fmus: dict[tuple[str, str], BuiltSample]) -> None:
    md = fmpy.read_model_description(str(sample_fmus["bouncing_ball", "3.0"].fmu_path))
    e = next(v for v in md.modelVariables if v.name == "e")
    assert (e.min, e.max, e.variability) == ("0.0", "1.0", "tunable")
    md = fmpy.read_model_description(str(sample_fmus["mass_spring_damper", "2.0"].fmu_path))
    m = next(v for v in md.modelVariables if v.name == "m")
    assert float(m.min) > 0 and m.variability == "fixed"


@pytest.mark.parametrize("fmi_version", FMI_VERSIONS)
@pytest.mark.parametrize("slug", SLUGS)
def test_fmpy_validation_finds_no_problems(
    sample_fmus: dict[tuple[str, str], BuiltSample], slug: str, fmi_version: str
) -> None:
    assert validate_fmu(str(sample_fmus[slug, fmi_version].fmu_path)) == []


@pytest.mark.parametrize("fmi_version", FMI_VERSIONS)
@pytest.mark.parametrize("slug", SLUGS)
def test_archive_layout_and_exported_symbols(
    sample_fmus: dict[tuple[str, str], BuiltSample], slug: str, fmi_version: str
) -> None:
    path = sample_fmus[slug, fmi_version].fmu_path
    library = f"binaries/{PLATFORM_DIRS[fmi_version]}/{slug}.so"
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == [library, "modelDescription.xml"]
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    # exactly the FMI API: -fvisibility=hidden keeps the helpers private
    declared = _declared_fmi_functions(fmi_version)
    assert len(declared) > 40
    assert _exported_symbols(path, library) == declared


@pytest.mark.slow
def test_build_is_deterministic(
    sample_fmus: dict[tuple[str, str], BuiltSample], tmp_path: Path
) -> None:
    rebuilt = build_sample_fmus(tmp_path / "again")
    assert {(s.slug, s.fmi_version): s.sha256 for s in rebuilt} == {
        key: sample.sha256 for key, sample in sample_fmus.items()
    }
    for sample in rebuilt:
        original = sample_fmus[sample.slug, sample.fmi_version]
        assert sample.fmu_path.read_bytes() == original.fmu_path.read_bytes()


def test_instantiation_token_changes_with_the_sources(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES_DIR / "pi_controller", tmp_path / "pi_controller")
    copy = load_sample_model(tmp_path / "pi_controller")
    original = load_sample_model(SAMPLES_DIR / "pi_controller")
    assert instantiation_token(copy, "3.0") == instantiation_token(original, "3.0")
    assert instantiation_token(original, "2.0") != instantiation_token(original, "3.0")

    source = tmp_path / "pi_controller" / "model.c"
    source.write_text(source.read_text(encoding="utf-8") + "\n/* changed */\n")
    assert instantiation_token(copy, "3.0") != instantiation_token(original, "3.0")


@pytest.mark.parametrize("slug", SLUGS)
def test_wrong_reference_is_detected(
    sample_fmus: dict[tuple[str, str], BuiltSample], slug: str, tmp_path: Path
) -> None:
    """The comparison can fail: a reference that is 10% off must not pass."""
    sample = sample_fmus[slug, "3.0"]
    result = fmpy.simulate_fmu(str(sample.fmu_path), fmi_type="CoSimulation")
    tolerance = sample.tolerance
    reference = read_reference_csv(sample.reference_csv)
    names = reference.dtype.names or ()
    wrong = tmp_path / "wrong.csv"
    with wrong.open("w") as f:
        f.write(",".join(names) + "\n")
        for row in reference:
            values = [row[0]] + [1.1 * value for value in list(row)[1:]]
            f.write(",".join(repr(float(value)) for value in values) + "\n")

    good = compare_to_reference(
        result, sample.reference_csv, tolerance.columns, tolerance.rtol, tolerance.atol
    )
    bad = compare_to_reference(result, wrong, tolerance.columns, tolerance.rtol, tolerance.atol)

    assert good.passed
    assert not bad.passed
    assert all(not column.passed for column in bad.columns), bad.summary()
    assert "FAILED" in bad.summary()


@pytest.mark.parametrize("fmi_type", INTERFACES)
@pytest.mark.parametrize("fmi_version", FMI_VERSIONS)
def test_other_start_values_and_inputs(
    sample_fmus: dict[tuple[str, str], BuiltSample], fmi_version: str, fmi_type: str
) -> None:
    closed = _closed_forms()

    # PI controller: other gains, inputs and integrator start value
    start = {"setpoint": 3.0, "measurement": 1.0, "kp": 1.0, "ki": 2.0, "integral": 0.5}
    result = fmpy.simulate_fmu(
        str(sample_fmus["pi_controller", fmi_version].fmu_path),
        fmi_type=fmi_type,
        start_values=start,
        stop_time=2.0,
    )
    expected = closed.pi_controller(result["time"], **start)
    assert np.abs(result["u"] - expected["u"]).max() < 1e-9

    # mass-spring-damper driven by a constant force given as an input signal
    signal = np.array([(0.0, 5.0), (10.0, 5.0)], dtype=[("time", float), ("F", float)])
    result = fmpy.simulate_fmu(
        str(sample_fmus["mass_spring_damper", fmi_version].fmu_path),
        fmi_type=fmi_type,
        start_values={"x": 0.0, "c": 4.0, "m": 2.0},
        input=signal,
    )
    expected = closed.mass_spring_damper(result["time"], x=0.0, v=0.0, F=5.0, m=2.0, k=10.0, c=4.0)
    assert np.abs(result["x"] - expected["x"]).max() < 1e-4
    assert result["x"][-1] == pytest.approx(0.5, abs=1e-3)  # settles at F/k

    # bouncing ball without restitution: it stays on the ground after the first impact
    result = fmpy.simulate_fmu(
        str(sample_fmus["bouncing_ball", fmi_version].fmu_path),
        fmi_type=fmi_type,
        start_values={"h": 2.0, "e": 0.0},
    )
    impact = math.sqrt(2 * 2.0 / 9.81)
    falling = result["time"] < impact
    assert (
        np.abs(result["h"][falling] - (2.0 - 9.81 / 2 * result["time"][falling] ** 2)).max() < 1e-5
    )
    assert np.all(np.abs(result["h"][~falling]) < 1e-9)
    assert np.all(result["v"][~falling] == 0.0)


def _instantiate(sample: BuiltSample, tmp_path: Path, guid: str | None = None):
    md = fmpy.read_model_description(str(sample.fmu_path))
    directory = fmpy.extract(str(sample.fmu_path), unzipdir=str(tmp_path / "fmu"))
    cls = FMU2Slave if sample.fmi_version == "2.0" else FMU3Slave
    fmu = cls(
        guid=guid or md.guid,
        unzipDirectory=directory,
        modelIdentifier=md.coSimulation.modelIdentifier,
        instanceName="test",
    )
    vrs = {v.name: v.valueReference for v in md.modelVariables}
    return fmu, vrs


@pytest.mark.parametrize("fmi_version", FMI_VERSIONS)
def test_invalid_calls_are_rejected_with_a_message(
    sample_fmus: dict[tuple[str, str], BuiltSample],
    fmi_version: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sample = sample_fmus["bouncing_ball", fmi_version]
    fmi2 = fmi_version == "2.0"
    fmu, vr = _instantiate(sample, tmp_path)
    fmu.instantiate()
    set_real = fmu.setReal if fmi2 else fmu.setFloat64
    get_real = fmu.getReal if fmi2 else fmu.getFloat64

    def rejected(call, *args) -> str:
        with pytest.raises(FMICallException):
            call(*args)
        return capsys.readouterr().out

    assert "unknown value reference 999" in rejected(set_real, [999], [1.0])
    assert "unknown value reference 999" in rejected(get_real, [999])
    assert "outside its range" in rejected(set_real, [vr["e"]], [1.5])
    assert "outside its range" in rejected(set_real, [vr["h"]], [float("nan")])
    assert "cannot be set" in rejected(set_real, [vr["der(h)"]], [1.0])
    set_real([vr["h"], vr["e"]], [2.0, 0.5])  # valid before initialization

    if fmi2:
        fmu.setupExperiment(startTime=0.0, stopTime=1.0)
        fmu.enterInitializationMode()
    else:
        fmu.enterInitializationMode(startTime=0.0, stopTime=1.0)
    fmu.exitInitializationMode()
    assert get_real([vr["h"], vr["e"]]) == [2.0, 0.5]
    assert "cannot be set" in rejected(set_real, [vr["g"]], [-1.0])  # fixed parameter
    set_real([vr["e"]], [0.6])  # tunable parameter
    assert "does not match" in rejected(fmu.doStep, 0.5, 0.1)  # wrong communication point
    assert "stop time" in rejected(fmu.doStep, 0.0, 2.0)
    fmu.doStep(0.0, 0.1)
    assert get_real([vr["time"]]) == [pytest.approx(0.1)]

    # NULL arrays are reported instead of crashing the process
    function = fmu.dll.fmi2GetReal if fmi2 else fmu.dll.fmi3GetFloat64
    args = (fmu.component, None, 1, None) if fmi2 else (fmu.component, None, 1, None, 1)
    assert function(*args) == 3  # fmi2Error / fmi3Error
    assert "must not be NULL" in capsys.readouterr().out
    assert function(None, None, 1, None, *args[4:]) == 3

    fmu.terminate()
    fmu.freeInstance()


@pytest.mark.parametrize("fmi_version", FMI_VERSIONS)
def test_wrong_instantiation_token_is_rejected(
    sample_fmus: dict[tuple[str, str], BuiltSample],
    fmi_version: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fmu, _ = _instantiate(sample_fmus["pi_controller", fmi_version], tmp_path, guid="{wrong}")
    with pytest.raises(Exception, match="Failed to instantiate"):
        fmu.instantiate()
    assert "does not match" in capsys.readouterr().out
    fmu.freeLibrary()


def test_missing_compiler_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CompilerNotFoundError, match="not found on PATH"):
        build_sample_fmus(tmp_path, cc="no-such-compiler-gcc")


def test_unknown_model_or_version_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SampleBuildError, match="unknown sample model"):
        build_sample_fmus(tmp_path, models=["nope"])
    with pytest.raises(SampleBuildError, match="unsupported FMI version"):
        build_sample_fmus(tmp_path, fmi_versions=["1.0"])


def test_management_command(tmp_path: Path) -> None:
    from registry.management.commands.build_sample_fmus import Command

    out = io.StringIO()
    command = Command(stdout=out)
    parser = command.create_parser("manage.py", "build_sample_fmus")
    options = parser.parse_args(
        ["--out", str(tmp_path), "--fmi-version", "3.0", "--model", "pi_controller"]
    )
    command.handle(**vars(options))

    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "pi_controller" in lines[0] and "FMI 3.0" in lines[0]
    assert (tmp_path / "fmi3" / "pi_controller.fmu").is_file()
    assert (tmp_path / "fmi3" / "pi_controller_reference.csv").is_file()
    assert (tmp_path / "fmi3" / "pi_controller_tolerance.json").is_file()


# --------------------------------------------------------------------------- vectors


def _table(rows: list[tuple[float, ...]], names: tuple[str, ...] = ("time", "y")) -> np.ndarray:
    return np.array(rows, dtype=[(name, float) for name in names])


def test_comparison_passes_within_and_fails_outside_tolerance() -> None:
    reference = _table([(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)])
    result = _table([(0.0, 1.0), (0.5, 1.5), (1.0, 2.0005), (2.0, 3.0)])
    assert compare_to_reference(result, reference, rtol=0.0, atol=1e-3).passed
    report = compare_to_reference(result, reference, rtol=0.0, atol=1e-4)
    assert not report.passed
    column = report.column("y")
    assert column.max_abs_error == pytest.approx(5e-4)
    assert column.max_rel_error == pytest.approx(2.5e-4)
    assert (column.failed_points, column.worst_time) == (1, 1.0)


def test_comparison_interpolates_and_handles_events() -> None:
    # a step from 0 to 1 at t = 1 recorded as two rows (before/after the event)
    result = _table([(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (2.0, 1.0)])
    between = _table([(0.5, 0.0), (1.5, 1.0)])
    assert compare_to_reference(result, between, rtol=0, atol=1e-12).passed
    after = _table([(1.0, 1.0)])  # a single row at the event time: the value after it
    assert compare_to_reference(result, after, rtol=0, atol=1e-12).passed
    both = _table([(1.0, 0.0), (1.0, 1.0)])  # before and after rows
    assert compare_to_reference(result, both, rtol=0, atol=1e-12).passed
    # a continuous result is interpolated linearly
    ramp = _table([(0.0, 0.0), (2.0, 2.0)])
    assert compare_to_reference(ramp, _table([(0.25, 0.25), (1.5, 1.5)]), atol=1e-12).passed


def test_comparison_reports_missing_columns_nan_and_uncovered_time() -> None:
    reference = _table([(0.0, 1.0, 2.0), (1.0, 1.0, 2.0)], ("time", "y", "z"))
    result = _table([(0.0, 1.0), (1.0, float("nan"))])
    report = compare_to_reference(result, reference)
    assert not report.passed
    assert report.missing_columns == ("z",)
    assert report.column("y").max_abs_error == math.inf
    assert report.as_dict()["columns"][0]["max_abs_error"] is None  # JSON-safe

    short = _table([(0.0, 1.0), (0.5, 1.0)])
    report = compare_to_reference(short, reference, columns=["y"])
    assert not report.passed and report.uncovered_points == 1
    with pytest.raises(ReferenceFormatError, match="not in the reference"):
        compare_to_reference(short, reference, columns=["w"])
    with pytest.raises(ReferenceFormatError, match="rtol"):
        compare_to_reference(short, reference, rtol=-1.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("time,y\n", "no data rows"),
        ("time,y\n0,1\n1\n", "expected 2 values"),
        ("time,y\n0,abc\n", "line 2"),
        ("time,y\n1,1\n0,1\n", "non-decreasing"),
        ("time,time\n0,1\n", "unique"),
        ("time\n0\n", "at least one more"),
    ],
)
def test_malformed_reference_csv_is_rejected(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "reference.csv"
    path.write_text(content)
    with pytest.raises(ReferenceFormatError, match=message):
        read_reference_csv(path)


def test_reference_csv_with_quotes_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "reference.csv"
    path.write_text('\ufeff"time","der(x)"\n0,1\n1,2\n', encoding="utf-8")
    table = read_reference_csv(path)
    assert table.dtype.names == ("time", "der(x)")
    assert table["der(x)"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize("slug", SLUGS)
def test_committed_references_match_the_closed_forms(slug: str) -> None:
    """reference.csv is the output of make_references.py for the current model.json."""
    t, columns = _closed_forms().compute(slug)
    committed = read_reference_csv(SAMPLES_DIR / slug / "reference.csv")
    assert committed.dtype.names == ("time", *columns)
    assert np.allclose(committed["time"], t, rtol=0, atol=1e-12)
    for name, values in columns.items():
        assert np.allclose(committed[name], values, rtol=1e-12, atol=1e-12), name


def test_tolerance_files() -> None:
    for slug in SLUGS:
        tolerance = Tolerance.load(SAMPLES_DIR / slug / "tolerance.json")
        assert tolerance.columns and 0 < tolerance.atol < 1e-2 and 0 < tolerance.rtol < 1e-2
        assert Tolerance.from_dict(tolerance.to_dict()) == tolerance
    with pytest.raises(ReferenceFormatError):
        Tolerance.from_dict({"rtol": -1})
    with pytest.raises(ReferenceFormatError):
        Tolerance.from_dict({"atol": 1e-3, "typo": 1})
