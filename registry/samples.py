"""Build the sample FMUs of ``samples/fmus`` (the demo catalog and test fixtures).

Each model directory holds ``model.json`` (variables, metadata, default experiment),
``model.c`` (the equations), ``reference.csv`` and ``tolerance.json`` (its test vectors,
computed independently by ``samples/fmus/make_references.py``). From model.json this
module generates both ``modelDescription.xml`` and the C header ``model_variables.h``, so
value references, ranges and start values cannot drift apart. The C code is compiled
with gcc against the FMI headers shipped with fmpy and packed into one FMU per FMI
version, each supporting Model Exchange and Co-Simulation.

Builds are reproducible: the instantiation token is derived from the sources and the
archive has sorted entries and fixed timestamps, so the same sources give byte-identical
FMUs. Pure Python (no Django imports).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import uuid
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from registry.vectors import Tolerance

__all__ = [
    "FMI_VERSIONS",
    "SAMPLES_DIR",
    "BuiltSample",
    "CompilerNotFoundError",
    "SampleBuildError",
    "SampleBuildWarning",
    "SampleModel",
    "Variable",
    "build_sample_fmu",
    "build_sample_fmus",
    "find_compiler",
    "fmi_headers_dir",
    "instantiation_token",
    "load_sample_model",
    "load_sample_models",
    "render_model_description",
    "render_variables_header",
]

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples" / "fmus"
COMMON_DIR = SAMPLES_DIR / "common"
FMI_VERSIONS = ("2.0", "3.0")
INTERFACE_TYPES = ("ModelExchange", "CoSimulation")

# Part of every instantiation token: bump it when a change to this generator should
# produce new tokens although the model sources did not change.
BUILDER_VERSION = "1"
GENERATION_TOOL = "FMU Gateway sample builder"

_PLATFORM_DIRS = {"2.0": "linux64", "3.0": "x86_64-linux"}
_WRAPPERS = {"2.0": "fmi2_wrapper.c", "3.0": "fmi3_wrapper.c"}
_COMMON_SOURCES = ("model.h", "model_common.c", "fmi2_wrapper.c", "fmi3_wrapper.c")
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # earliest date a zip entry can carry

_LOG_CATEGORIES = (
    ("logEvents", "Log events (bounces, state events) when debug logging is on"),
    ("logStatusError", "Log error messages"),
)

# SI base unit exponents of the units the samples use (FMI <BaseUnit> attributes).
UNITS: dict[str, dict[str, int]] = {
    "s": {"s": 1},
    "1/s": {"s": -1},
    "m": {"m": 1},
    "m/s": {"m": 1, "s": -1},
    "m/s2": {"m": 1, "s": -2},
    "kg": {"kg": 1},
    "N": {"kg": 1, "m": 1, "s": -2},
    "N/m": {"kg": 1, "s": -2},
    "N.s/m": {"kg": 1, "s": -1},
}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_VARIABLE_NAME = re.compile(r"(der\()?[A-Za-z_][A-Za-z0-9_]*(?(1)\))\Z")
_CAUSALITIES = {"independent", "parameter", "input", "output", "local"}
_VARIABILITIES = {"fixed", "tunable", "continuous"}


class SampleBuildError(RuntimeError):
    """A sample FMU could not be built (invalid model.json, compiler error, ...)."""


class CompilerNotFoundError(SampleBuildError):
    """The C compiler is not installed."""


class SampleBuildWarning(UserWarning):
    """The compiler printed warnings (the build still succeeded)."""


@dataclass(frozen=True)
class Variable:
    name: str
    vr: int
    causality: str
    variability: str
    description: str
    initial: str | None = None
    start: float | None = None
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    derivative: str | None = None  # name of the state this is the derivative of

    @property
    def c_name(self) -> str:
        """Field name in the generated C struct: der(h) -> der_h."""
        return re.sub(r"[^A-Za-z0-9_]", "_", self.name).rstrip("_")


@dataclass(frozen=True)
class SampleModel:
    slug: str  # also the FMI modelIdentifier and the file name of the FMU
    model_name: str
    version: str
    title: str
    summary: str
    description: str
    tags: tuple[str, ...]
    default_experiment: dict[str, float]
    fixed_solver_step: float
    variables: tuple[Variable, ...]
    event_indicators: tuple[str, ...]
    internal_variables: tuple[tuple[str, float], ...]  # C-only discrete state: (name, start)
    source_dir: Path

    @property
    def reference_csv(self) -> Path:
        return self.source_dir / "reference.csv"

    @property
    def tolerance_path(self) -> Path:
        return self.source_dir / "tolerance.json"

    @property
    def tolerance(self) -> Tolerance:
        return Tolerance.load(self.tolerance_path)

    def variable(self, name: str) -> Variable:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(name)

    @property
    def derivatives(self) -> tuple[Variable, ...]:
        """State derivatives in state order (the order of the continuous state vector)."""
        return tuple(v for v in self.variables if v.derivative)

    @property
    def states(self) -> tuple[Variable, ...]:
        return tuple(self.variable(d.derivative) for d in self.derivatives if d.derivative)


@dataclass(frozen=True)
class BuiltSample:
    slug: str
    fmi_version: str
    fmu_path: Path
    reference_csv: Path
    tolerance_path: Path
    tolerance: Tolerance
    sha256: str
    model_name: str
    title: str
    summary: str
    description: str
    tags: tuple[str, ...]
    default_experiment: dict[str, float]
    interface_types: tuple[str, ...] = INTERFACE_TYPES

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, e.g. to seed the demo catalog."""
        return {
            "slug": self.slug,
            "fmi_version": self.fmi_version,
            "fmu_path": str(self.fmu_path),
            "reference_csv": str(self.reference_csv),
            "tolerance_path": str(self.tolerance_path),
            "tolerance": self.tolerance.to_dict(),
            "sha256": self.sha256,
            "model_name": self.model_name,
            "title": self.title,
            "summary": self.summary,
            "description": self.description,
            "tags": list(self.tags),
            "default_experiment": dict(self.default_experiment),
            "interface_types": list(self.interface_types),
        }


# --------------------------------------------------------------------------- loading


def _fail(slug: str, message: str) -> SampleBuildError:
    return SampleBuildError(f"{slug}/model.json: {message}")


def _number(slug: str, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(slug, f"{what} must be a finite number")
    return float(value)


def _load_variable(slug: str, data: dict[str, Any]) -> Variable:
    name = data.get("name", "")
    if not isinstance(name, str) or not _VARIABLE_NAME.match(name):
        raise _fail(slug, f"invalid variable name {name!r}")
    vr = data.get("vr")
    if isinstance(vr, bool) or not isinstance(vr, int) or not 0 <= vr < 2**32:
        raise _fail(slug, f"{name}: vr must be an unsigned 32 bit integer")
    causality, variability = data.get("causality"), data.get("variability")
    if causality not in _CAUSALITIES or variability not in _VARIABILITIES:
        raise _fail(slug, f"{name}: unsupported causality/variability")
    unit = data.get("unit")
    if unit is not None and unit not in UNITS:
        raise _fail(slug, f"{name}: unknown unit {unit!r} (add it to UNITS)")
    numbers = {
        key: _number(slug, data[key], f"{name}.{key}")
        for key in ("start", "min", "max")
        if data.get(key) is not None
    }
    variable = Variable(
        name=name,
        vr=vr,
        causality=causality,
        variability=variability,
        description=str(data.get("description", "")),
        initial=data.get("initial"),
        unit=unit,
        derivative=data.get("derivative"),
        **numbers,
    )
    needs_start = causality == "input" or variable.initial == "exact"
    if needs_start != (variable.start is not None):
        raise _fail(slug, f"{name}: start is required exactly for inputs and initial='exact'")
    low = -math.inf if variable.min is None else variable.min
    high = math.inf if variable.max is None else variable.max
    if low > high or (variable.start is not None and not low <= variable.start <= high):
        raise _fail(slug, f"{name}: min > max or start value outside [min, max]")
    return variable


def load_sample_model(source_dir: Path) -> SampleModel:
    """Load and check ``<source_dir>/model.json``."""
    source_dir = Path(source_dir)
    slug = source_dir.name
    if not _IDENTIFIER.match(slug):
        raise SampleBuildError(f"{source_dir}: the directory name must be a C identifier")
    try:
        data = json.loads((source_dir / "model.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise _fail(slug, str(exc)) from exc

    variables = tuple(_load_variable(slug, v) for v in data.get("variables", []))
    names = [v.name for v in variables]
    vrs = [v.vr for v in variables]
    internals = data.get("internalVariables", [])
    c_names = [v.c_name for v in variables] + [v.get("name", "") for v in internals]
    if len(set(names)) != len(names) or len(set(vrs)) != len(vrs):
        raise _fail(slug, "variable names and value references must be unique")
    if len(set(c_names)) != len(c_names) or not all(_IDENTIFIER.match(c) for c in c_names):
        raise _fail(slug, "C field names (der(x) -> der_x) must be unique identifiers")
    if [v.causality for v in variables].count("independent") != 1:
        raise _fail(slug, "exactly one independent variable (time) is required")
    for v in variables:
        if v.derivative is not None and v.derivative not in names:
            raise _fail(slug, f"{v.name}: derivative of unknown variable {v.derivative!r}")
    event_indicators = tuple(data.get("eventIndicators", []))
    if any(name not in names for name in event_indicators):
        raise _fail(slug, "eventIndicators must name variables")

    experiment = {
        key: _number(slug, value, f"defaultExperiment.{key}")
        for key, value in data["defaultExperiment"].items()
    }
    model = SampleModel(
        slug=slug,
        model_name=data["modelName"],
        version=data.get("version", "1.0.0"),
        title=data["title"],
        summary=data["summary"],
        description=data["description"],
        tags=tuple(data.get("tags", [])),
        default_experiment=experiment,
        fixed_solver_step=_number(slug, data["fixedSolverStep"], "fixedSolverStep"),
        variables=variables,
        event_indicators=event_indicators,
        internal_variables=tuple(
            (v["name"], _number(slug, v.get("start", 0.0), v["name"])) for v in internals
        ),
        source_dir=source_dir,
    )
    if not model.states:
        raise _fail(slug, "the common solver needs at least one continuous state")
    if model.fixed_solver_step <= 0:
        raise _fail(slug, "fixedSolverStep must be positive")
    return model


def load_sample_models(samples_dir: Path = SAMPLES_DIR) -> list[SampleModel]:
    """All models in samples_dir (every subdirectory with a model.json), sorted by slug."""
    return [
        load_sample_model(path.parent) for path in sorted(Path(samples_dir).glob("*/model.json"))
    ]


# --------------------------------------------------------------------------- generation


def _fmt(value: float) -> str:
    """Shortest round-tripping decimal, valid both in XML (xs:double) and in C."""
    return repr(float(value))


def _kind(v: Variable) -> str:
    if v.causality == "independent":
        return "KindIndependent"
    if v.causality == "parameter":
        return "KindTunableParameter" if v.variability == "tunable" else "KindFixedParameter"
    if v.causality == "input":
        return "KindInput"
    if v.initial == "exact":  # a state with a settable start value
        return "KindState"
    return "KindCalculated"


def render_variables_header(model: SampleModel, token: str) -> str:
    """The C header model_variables.h included by common/model.h."""

    def c_double(value: float | None, default: str) -> str:
        return default if value is None else _fmt(value)

    fields = [f"    double {v.c_name}; /* {v.name} */" for v in model.variables]
    fields += [f"    double {name}; /* internal */" for name, _ in model.internal_variables]
    table = [
        f'    {{{v.vr}u, "{v.name}", offsetof(ModelVariables, {v.c_name}), {_kind(v)}, '
        f"{c_double(v.min, '-INFINITY')}, {c_double(v.max, 'INFINITY')}, "
        f"{c_double(v.start, '0.0')}}},"
        for v in model.variables
    ]
    states = ", ".join(f"offsetof(ModelVariables, {v.c_name})" for v in model.states)
    derivatives = ", ".join(f"offsetof(ModelVariables, {v.c_name})" for v in model.derivatives)
    internals = "".join(
        f"    vars->{name} = {_fmt(start)};\n" for name, start in model.internal_variables
    )
    independent = next(v.c_name for v in model.variables if v.causality == "independent")
    return f"""\
/* Generated from {model.slug}/model.json by registry/samples.py. Do not edit. */
#ifndef MODEL_VARIABLES_H
#define MODEL_VARIABLES_H

#include <math.h>
#include <stddef.h>

#define INSTANTIATION_TOKEN "{token}"
#define INDEPENDENT_VARIABLE {independent}
#define NX {len(model.states)}
#define NZ {len(model.event_indicators)}
#define FIXED_SOLVER_STEP {_fmt(model.fixed_solver_step)}

typedef struct {{
{chr(10).join(fields)}
}} ModelVariables;

#ifdef MODEL_VARIABLES_IMPLEMENTATION
static const VariableInfo model_variable_table[] = {{
{chr(10).join(table)}
}};
static const size_t model_state_offsets[NX] = {{{states}}};
static const size_t model_derivative_offsets[NX] = {{{derivatives}}};

static void model_set_internal_start_values(ModelVariables *vars) {{
{internals}    (void)vars;
}}
#endif

#endif /* MODEL_VARIABLES_H */
"""


def _sub(parent: ET.Element, tag: str, **attributes: str | None) -> ET.Element:
    return ET.SubElement(parent, tag, {k: v for k, v in attributes.items() if v is not None})


def render_model_description(model: SampleModel, fmi_version: str, token: str) -> bytes:
    """modelDescription.xml for FMI 2.0 or 3.0, Model Exchange + Co-Simulation."""
    if fmi_version not in FMI_VERSIONS:
        raise ValueError(f"unsupported FMI version {fmi_version!r}")
    fmi2 = fmi_version == "2.0"
    root = ET.Element("fmiModelDescription")
    root.set("fmiVersion", fmi_version)
    root.set("modelName", model.model_name)
    root.set("guid" if fmi2 else "instantiationToken", token)
    root.set("description", model.summary)
    root.set("version", model.version)
    root.set("generationTool", GENERATION_TOOL)
    root.set("variableNamingConvention", "structured")
    if fmi2:
        root.set("numberOfEventIndicators", str(len(model.event_indicators)))

    # Features that are not implemented keep their default "false" and are not listed.
    memory = {"canNotUseMemoryManagementFunctions": "true"} if fmi2 else {}
    _sub(root, "ModelExchange", modelIdentifier=model.slug, **memory)
    _sub(
        root,
        "CoSimulation",
        modelIdentifier=model.slug,
        canHandleVariableCommunicationStepSize="true",
        **memory,
    )

    used_units = sorted({v.unit for v in model.variables if v.unit})
    if used_units:
        unit_definitions = _sub(root, "UnitDefinitions")
        for unit in used_units:
            exponents = {k: str(e) for k, e in UNITS[unit].items()}
            _sub(_sub(unit_definitions, "Unit", name=unit), "BaseUnit", **exponents)

    categories = _sub(root, "LogCategories")
    for name, description in _LOG_CATEGORIES:
        _sub(categories, "Category", name=name, description=description)

    _sub(root, "DefaultExperiment", **{k: _fmt(v) for k, v in model.default_experiment.items()})

    model_variables = _sub(root, "ModelVariables")
    index = {v.name: i + 1 for i, v in enumerate(model.variables)}  # FMI 2: 1-based
    for v in model.variables:
        common = {
            "name": v.name,
            "valueReference": str(v.vr),
            "description": v.description or None,
            "causality": v.causality,
            "variability": v.variability,
            "initial": v.initial,
        }
        values = {
            "unit": v.unit,
            "min": None if v.min is None else _fmt(v.min),
            "max": None if v.max is None else _fmt(v.max),
            "start": None if v.start is None else _fmt(v.start),
        }
        if fmi2:
            element = _sub(model_variables, "ScalarVariable", **common)
            state = str(index[v.derivative]) if v.derivative else None
            _sub(element, "Real", **values, derivative=state)
        else:
            state = str(model.variable(v.derivative).vr) if v.derivative else None
            _sub(model_variables, "Float64", **common, **values, derivative=state)

    # FMI: outputs, derivatives, and the outputs/states/derivatives computed during
    # initialization (initial approx or calculated) are the "initial unknowns".
    outputs = [v for v in model.variables if v.causality == "output"]
    derivatives = list(model.derivatives)
    initial_unknowns = [
        v
        for v in model.variables
        if (v in outputs or v in derivatives or v in model.states)
        and v.initial in ("approx", "calculated")
    ]
    structure = _sub(root, "ModelStructure")
    if fmi2:
        for tag, unknowns in (
            ("Outputs", outputs),
            ("Derivatives", derivatives),
            ("InitialUnknowns", initial_unknowns),
        ):
            if unknowns:
                group = _sub(structure, tag)
                for v in unknowns:
                    _sub(group, "Unknown", index=str(index[v.name]))
    else:
        for tag, unknowns in (
            ("Output", outputs),
            ("ContinuousStateDerivative", derivatives),
            ("InitialUnknown", initial_unknowns),
            ("EventIndicator", [model.variable(name) for name in model.event_indicators]),
        ):
            for v in unknowns:
                _sub(structure, tag, valueReference=str(v.vr))

    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def _source_files(model: SampleModel) -> list[Path]:
    return [COMMON_DIR / name for name in _COMMON_SOURCES] + [
        model.source_dir / "model.json",
        model.source_dir / "model.c",
    ]


def instantiation_token(model: SampleModel, fmi_version: str) -> str:
    """A GUID-formatted token derived from everything that goes into the FMU: fresh when a
    source changes, identical when nothing did."""
    digest = hashlib.sha256(f"{BUILDER_VERSION}\0{fmi_version}\0".encode())
    for path in _source_files(model):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "{" + str(uuid.UUID(bytes=digest.digest()[:16], version=5)) + "}"


# --------------------------------------------------------------------------- building


def find_compiler(cc: str = "gcc") -> str:
    """Absolute path of the C compiler, or CompilerNotFoundError."""
    path = shutil.which(cc)
    if path is None:
        raise CompilerNotFoundError(
            f"C compiler {cc!r} not found on PATH; it is needed to build the sample FMUs "
            "(on Debian/Ubuntu: apt-get install gcc)"
        )
    return path


def fmi_headers_dir() -> Path:
    """The FMI 2.0/3.0 C headers that ship with fmpy (not copied into this repository)."""
    try:
        import fmpy
    except ImportError as exc:  # pragma: no cover - fmpy is a project dependency
        raise SampleBuildError("fmpy is required for the FMI headers") from exc
    path = Path(os.path.dirname(fmpy.__file__)) / "c-code"
    if not (path / "fmi2Functions.h").is_file() or not (path / "fmi3Functions.h").is_file():
        raise SampleBuildError(f"FMI headers not found in {path}")
    return path


def _compile(model: SampleModel, fmi_version: str, header: str, cc: str, output: Path) -> None:
    with tempfile.TemporaryDirectory(prefix=f"sample-{model.slug}-") as build_dir:
        Path(build_dir, "model_variables.h").write_text(header, encoding="utf-8")
        command = [
            cc,
            "-std=c99",
            "-O2",
            "-fPIC",
            "-shared",
            # export only what fmi2Functions.h / fmi3Functions.h mark with default visibility
            "-fvisibility=hidden",
            "-Wall",
            "-Wextra",
            "-s",  # no symbol table: smaller, and no build paths in the binary
            "-Wl,--no-undefined",
            "-I",
            build_dir,
            "-I",
            str(COMMON_DIR),
            "-I",
            str(fmi_headers_dir()),
            "-o",
            str(output),
            str(COMMON_DIR / "model_common.c"),
            str(COMMON_DIR / _WRAPPERS[fmi_version]),
            str(model.source_dir / "model.c"),
            "-lm",
        ]
        process = subprocess.run(command, capture_output=True, text=True, check=False)
        if process.returncode != 0:
            raise SampleBuildError(
                f"compiling {model.slug} (FMI {fmi_version}) failed:\n{process.stderr}"
            )
        if process.stderr.strip():
            warnings.warn(
                f"compiler warnings for {model.slug} (FMI {fmi_version}):\n{process.stderr}",
                SampleBuildWarning,
                stacklevel=3,
            )


def _write_zip(path: Path, files: dict[str, bytes]) -> None:
    """Deterministic archive: sorted entries, fixed timestamps and attributes."""
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the build host
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name], compresslevel=9)
    os.replace(tmp, path)  # never leave a half-written FMU behind


def build_sample_fmu(
    model: SampleModel, fmi_version: str, out_dir: Path, cc: str = "gcc"
) -> BuiltSample:
    """Build one FMU into ``out_dir/fmi<N>/<slug>.fmu`` and copy its test vectors next to
    it as ``<slug>_reference.csv`` and ``<slug>_tolerance.json``."""
    if fmi_version not in FMI_VERSIONS:
        raise SampleBuildError(
            f"unsupported FMI version {fmi_version!r} (choose from {', '.join(FMI_VERSIONS)})"
        )
    compiler = find_compiler(cc)
    target_dir = Path(out_dir) / f"fmi{fmi_version[0]}"
    target_dir.mkdir(parents=True, exist_ok=True)

    token = instantiation_token(model, fmi_version)
    with tempfile.TemporaryDirectory(prefix=f"sample-{model.slug}-") as tmp:
        library = Path(tmp) / f"{model.slug}.so"
        _compile(model, fmi_version, render_variables_header(model, token), compiler, library)
        files = {
            "modelDescription.xml": render_model_description(model, fmi_version, token),
            f"binaries/{_PLATFORM_DIRS[fmi_version]}/{model.slug}.so": library.read_bytes(),
        }
    fmu_path = target_dir / f"{model.slug}.fmu"
    _write_zip(fmu_path, files)

    reference_csv = target_dir / f"{model.slug}_reference.csv"
    tolerance_path = target_dir / f"{model.slug}_tolerance.json"
    shutil.copyfile(model.reference_csv, reference_csv)
    shutil.copyfile(model.tolerance_path, tolerance_path)

    return BuiltSample(
        slug=model.slug,
        fmi_version=fmi_version,
        fmu_path=fmu_path,
        reference_csv=reference_csv,
        tolerance_path=tolerance_path,
        tolerance=Tolerance.load(tolerance_path),
        sha256=hashlib.sha256(fmu_path.read_bytes()).hexdigest(),
        model_name=model.model_name,
        title=model.title,
        summary=model.summary,
        description=model.description,
        tags=model.tags,
        default_experiment=dict(model.default_experiment),
    )


def build_sample_fmus(
    out_dir: Path,
    fmi_versions: Sequence[str] = FMI_VERSIONS,
    models: Iterable[str] | None = None,
    cc: str = "gcc",
) -> list[BuiltSample]:
    """Build every sample model (or the given slugs) for every requested FMI version."""
    find_compiler(cc)  # fail early with a clear message
    unsupported = [v for v in fmi_versions if v not in FMI_VERSIONS]
    if unsupported:
        raise SampleBuildError(f"unsupported FMI version(s): {', '.join(unsupported)}")
    available = {model.slug: model for model in load_sample_models()}
    slugs = sorted(available) if models is None else list(models)
    unknown = [slug for slug in slugs if slug not in available]
    if unknown:
        raise SampleBuildError(
            f"unknown sample model(s): {', '.join(unknown)} (available: {', '.join(available)})"
        )
    return [
        build_sample_fmu(available[slug], version, Path(out_dir), cc=cc)
        for slug in slugs
        for version in dict.fromkeys(fmi_versions)  # de-duplicated, order kept
    ]
