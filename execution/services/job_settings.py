"""Validation of simulation settings against a version's model description.

Everything a job will pass to the sandbox is checked here, before a job row exists, so that a
bad request is a 400 with a code per field and never a failed job. The result,
``EffectiveSettings``, is what the job stores: with it (and the FMU's SHA-256 and the fmpy
version) a run can be repeated exactly.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings

from fmugateway.core.errors import DomainError
from registry.models import PackageVersion, Variable

if TYPE_CHECKING:
    import numpy as np
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

FMI_TYPES = {
    "ME": "ModelExchange",
    "ModelExchange": "ModelExchange",
    "CS": "CoSimulation",
    "CoSimulation": "CoSimulation",
}
SOLVERS = ("CVode", "Euler")
REAL_TYPES = {"Real", "Float64", "Float32"}
#: What each integer type holds: a larger value would wrap silently in the FMU's C integer.
INTEGER_RANGES = {
    "Integer": (-(2**31), 2**31 - 1),  # fmi2Integer / fmiInteger: a C int
    "Enumeration": (-(2**31), 2**31 - 1),
    **{f"Int{bits}": (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) for bits in (8, 16, 32, 64)},
    **{f"UInt{bits}": (0, 2**bits - 1) for bits in (8, 16, 32, 64)},
}
INTEGER_TYPES = frozenset(INTEGER_RANGES)
SETTABLE_CAUSALITIES = {"parameter", "input", "structuralParameter"}

# Bounds of what a client sends, checked here and documented by ``execution.serializers``.
MAX_OUTPUTS = 1000
MAX_ABS_TIME = 1e12  # seconds (~31,700 years): start, stop, output interval and step size
MIN_RELATIVE_TOLERANCE = 1e-15  # about double precision: no solver can meet a tighter one
MAX_STRING_VALUE = 10_000
MAX_VERSION_ID = 2**63 - 1  # bigint primary keys

SETTING_FIELDS = (
    "start_time",
    "stop_time",
    "output_interval",
    "step_size",
    "fmi_type",
    "solver",
    "relative_tolerance",
    "start_values",
    "inputs",
    "outputs",
    "timeout_seconds",
)


class SettingsInvalid(DomainError):
    status_code = 400
    code = "invalid_settings"
    detail = "Some simulation settings are invalid; see fields for each problem."


class UnsupportedInterface(DomainError):
    """The FMU offers no interface the runner can execute: refused before any job exists."""

    status_code = 422
    code = "unsupported_interface"


#: A default timeout leaves this much room above the validation's smoke run of the model.
SMOKE_TIMEOUT_HEADROOM = 1.5


@dataclass
class EffectiveSettings:
    """Validated settings with the defaults resolved: exactly what the sandbox is given."""

    fmi_type: str
    start_time: float
    stop_time: float
    output_interval: float | None = None
    step_size: float | None = None
    solver: str = "CVode"
    relative_tolerance: float | None = None
    start_values: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] | None = None
    timeout_seconds: int = 60
    inputs: dict[str, list[float]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings without the inputs (a job stores those separately)."""
        data = asdict(self)
        data.pop("inputs")
        return data

    @classmethod
    def from_job(
        cls, stored: Mapping[str, Any], inputs: Mapping[str, list[float]] | None
    ) -> EffectiveSettings:
        known = {name: stored[name] for name in cls.__dataclass_fields__ if name in stored}
        return cls(**known, inputs=dict(inputs) if inputs else None)

    def simulation_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``fmugateway.core.sandbox.run_sandboxed`` (besides limits)."""
        return {
            "fmi_type": self.fmi_type,
            "start_time": self.start_time,
            "stop_time": self.stop_time,
            "output_interval": self.output_interval,
            "step_size": self.step_size,
            "solver": self.solver,
            "relative_tolerance": self.relative_tolerance,
            "start_values": dict(self.start_values),
            "outputs": list(self.outputs) if self.outputs is not None else None,
            "inputs": self.inputs,
        }

    def fmpy_kwargs(self) -> dict[str, Any]:
        """The same run expressed as ``fmpy.simulate_fmu`` arguments (tests, reproduction)."""
        kwargs = self.simulation_kwargs()
        inputs = kwargs.pop("inputs")
        kwargs["output"] = kwargs.pop("outputs")
        kwargs["input"] = _structured(inputs) if inputs else None
        return {key: value for key, value in kwargs.items() if value is not None}


def _structured(columns: Mapping[str, list[float]]) -> np.ndarray:
    import numpy as np

    names = ["time", *[name for name in columns if name != "time"]]
    array = np.zeros(len(columns["time"]), dtype=[(name, np.float64) for name in names])
    for name in names:
        array[name] = columns[name]
    return array


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}

    def add(self, name: str, code: str, detail: str, key: str | None = None) -> None:
        entry = {"code": code, "detail": detail}
        if key is None:
            self.fields.setdefault(name, []).append(entry)
        else:
            self.fields.setdefault(name, {}).setdefault(key, []).append(entry)

    def __bool__(self) -> bool:
        return bool(self.fields)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _float_field(
    data: Mapping[str, Any],
    name: str,
    errors: _Errors,
    *,
    positive: bool = False,
    default: float | None = None,
    limit: float | None = MAX_ABS_TIME,
) -> float | None:
    """A finite number, positive if asked, within ``limit`` of zero (seconds by default)."""
    raw = data.get(name)
    if raw is None or raw == "":
        return default
    number = _number(raw)
    if number is None:
        errors.add(name, "invalid_number", "Must be a finite number.")
        return default
    if positive and number <= 0:
        errors.add(name, "must_be_positive", "Must be greater than zero.")
        return default
    if limit is not None and abs(number) > limit:
        errors.add(name, "out_of_range", f"Must be within {limit:g} of zero.")
        return default
    return number


def _bound(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _settable(variable: VariableInfo, fmi_version: str) -> bool:
    if variable.variability == "constant" or variable.causality in {
        "independent",
        "calculatedParameter",
    }:
        return False
    if variable.causality in SETTABLE_CAUSALITIES:
        return True
    if fmi_version.startswith("1"):
        return variable.variability == "parameter" or bool(variable.start)
    if variable.initial in {"exact", "approx"}:
        return True
    return bool(variable.start) and variable.initial != "calculated"


def is_settable(variable: VariableInfo, fmi_version: str) -> bool:
    """Whether ``start_values`` may name ``variable`` (the run form offers exactly these)."""
    return _settable(variable, fmi_version)


def coerce_value(variable: VariableInfo, value: Any) -> tuple[Any, tuple[str, str] | None]:
    """``value`` converted to the variable's type, or an error (code, detail)."""
    if isinstance(value, list):
        coerced = []
        for item in value:
            one, error = coerce_value(variable, item)
            if error:
                return None, error
            coerced.append(one)
        return coerced, None
    kind = variable.type
    if kind in REAL_TYPES:
        number = _number(value)
        if number is None:
            return None, ("wrong_type", f"{variable.name} is a {kind}: give a finite number.")
        result: Any = number
    elif kind in INTEGER_TYPES:
        number = _number(value)
        if number is None or not float(number).is_integer():
            return None, ("wrong_type", f"{variable.name} is an {kind}: give a whole number.")
        result = int(number)
        low, high = INTEGER_RANGES[kind]
        if not low <= result <= high:
            return None, ("out_of_range", f"{variable.name} is an {kind}: {low} to {high}.")
    elif kind == "Boolean":
        if isinstance(value, bool):
            result = value
        elif value in (0, 1) and not isinstance(value, float):
            result = bool(value)
        elif isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
            result = value.strip().lower() in {"true", "1"}
        else:
            return None, ("wrong_type", f"{variable.name} is a Boolean: give true or false.")
        return result, None
    elif kind == "String":
        if not isinstance(value, str):
            return None, ("wrong_type", f"{variable.name} is a String: give text.")
        if len(value) > MAX_STRING_VALUE:
            return None, ("too_long", f"At most {MAX_STRING_VALUE:,} characters.")
        return value, None
    else:
        return None, ("unsupported_type", f"Start values of type {kind} cannot be set.")
    low, high = _bound(variable.min), _bound(variable.max)
    if low is not None and result < low:
        return None, ("below_min", f"{variable.name} must be at least {variable.min}.")
    if high is not None and result > high:
        return None, ("above_max", f"{variable.name} must be at most {variable.max}.")
    return result, None


def parse_inputs_csv(data: bytes | str) -> dict[str, list[float]]:
    """A CSV upload (header row; first column time) as JSON-style columns."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise SettingsInvalid(
            fields={"inputs": [{"code": "empty", "detail": "The CSV needs a header and rows."}]}
        )
    header = [name.strip() for name in rows[0]]
    if header and header[0] != "time":
        header[0] = "time"  # the first column is time whatever it is called ("t", "# time")
    columns: dict[str, list[Any]] = {name: [] for name in header}
    if len(columns) != len(header):
        raise SettingsInvalid(
            fields={"inputs": [{"code": "duplicate_column", "detail": "Repeated column names."}]}
        )
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise SettingsInvalid(
                fields={
                    "inputs": [
                        {"code": "ragged_row", "detail": f"Line {line} has {len(row)} values."}
                    ]
                }
            )
        for name, cell in zip(header, row, strict=True):
            columns[name].append(cell.strip())
    return columns


@dataclass(frozen=True)
class VariableInfo:
    name: str
    causality: str
    variability: str
    initial: str
    type: str
    start: str
    min: str
    max: str
    unit: str


_CATALOG_FIELDS = ("name", "causality", "variability", "initial", "type", "start", "min", "max")


class _Catalog:
    """The version's variables by name. Versions are immutable, so each worker process keeps
    the catalogs of its most recently used versions."""

    _cache: OrderedDict[tuple[int, str], dict[str, VariableInfo]] = OrderedDict()
    _lock = threading.Lock()
    MAX_CACHED = 128

    def __init__(self, version: PackageVersion) -> None:
        key = (version.pk, version.sha256)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is None:
            rows = (
                Variable.objects.filter(version_id=version.pk)
                .order_by()
                .values_list(*_CATALOG_FIELDS, "unit")
            )
            cached = {row[0]: VariableInfo(*row) for row in rows}
            with self._lock:
                self._cache[key] = cached
                while len(self._cache) > self.MAX_CACHED:
                    self._cache.popitem(last=False)
        self.by_name = cached


def default_timeout(version: PackageVersion, cap: int) -> int:
    """The timeout of a job that asks for none: the configured default, or more when the
    validation's smoke run of the default experiment took long (with headroom), never above
    ``cap`` (the plan's and the platform's maximum)."""
    timeout = settings.JOB_DEFAULT_TIMEOUT_SECONDS
    smoke = version.smoke_run_seconds
    if smoke is not None and math.isfinite(smoke):
        timeout = max(timeout, math.ceil(smoke * SMOKE_TIMEOUT_HEADROOM))
    return min(timeout, cap)


def _max_timeout(user: User | AnonymousUser | None) -> int:
    cap = settings.JOB_MAX_TIMEOUT_SECONDS
    if user is not None and getattr(user, "is_authenticated", False):
        from billing.services import plan_for

        cap = min(cap, plan_for(user).max_job_timeout_seconds)
    return cap


def validate_settings(
    version: PackageVersion,
    data: Mapping[str, Any],
    *,
    user: User | AnonymousUser | None = None,
    catalog: _Catalog | None = None,
) -> EffectiveSettings:
    """Check ``data`` against ``version``'s model description and the caller's plan.

    Guarantees: returns settings the sandbox accepts, with the defaults resolved, or raises
    ``SettingsInvalid`` (400) listing every problem per field (nested per variable for
    ``start_values`` and ``inputs``), or ``UnsupportedInterface`` (422) when the FMU offers
    nothing the runner can execute. Nothing is written.
    """
    if not version.runnable_kinds:
        raise UnsupportedInterface(
            "This FMU offers only FMI 3 Scheduled Execution, which the gateway's runner cannot "
            "execute; it runs Model Exchange and Co-Simulation FMUs."
        )
    errors = _Errors()
    catalog = catalog or _Catalog(version)
    for name in data:
        if name not in SETTING_FIELDS:
            errors.add(name, "unknown_field", "Not a simulation setting.")

    # Interface.
    kinds = {
        "ModelExchange": version.supports_model_exchange,
        "CoSimulation": version.supports_co_simulation,
    }
    raw_type = data.get("fmi_type")
    if raw_type in (None, ""):
        fmi_type = "CoSimulation" if version.supports_co_simulation else "ModelExchange"
    elif raw_type not in FMI_TYPES:
        errors.add("fmi_type", "invalid_choice", "Use ME (Model Exchange) or CS (Co-Simulation).")
        fmi_type = "CoSimulation"
    else:
        fmi_type = FMI_TYPES[raw_type]
        if not kinds[fmi_type]:
            offered = ", ".join(name for name, ok in kinds.items() if ok) or "none"
            errors.add(
                "fmi_type",
                "fmi_type_not_supported",
                f"This FMU does not support {fmi_type} (it offers: {offered}).",
            )
    solver = data.get("solver") or "CVode"
    if solver not in SOLVERS:
        errors.add("solver", "invalid_choice", "Use CVode or Euler.")
    elif solver != "CVode" and fmi_type == "CoSimulation":
        errors.add("solver", "solver_needs_model_exchange", "Solvers apply to ME runs only.")

    # Time grid.
    experiment = version.default_experiment or {}
    start_time = _float_field(data, "start_time", errors)
    if start_time is None:
        start_time = _number(experiment.get("start_time")) or 0.0
    stop_time = _float_field(data, "stop_time", errors)
    if stop_time is None:
        default_stop = _number(experiment.get("stop_time"))
        stop_time = default_stop if default_stop is not None else start_time + 1.0
    if stop_time <= start_time:
        errors.add("stop_time", "stop_before_start", "stop_time must be after start_time.")
    output_interval = _float_field(data, "output_interval", errors, positive=True)
    step_size = _float_field(data, "step_size", errors, positive=True)
    grid = output_interval or step_size
    if grid and stop_time > start_time:
        points = (stop_time - start_time) / grid
        if points > settings.JOB_MAX_OUTPUT_POINTS:
            errors.add(
                "output_interval" if output_interval else "step_size",
                "too_many_output_points",
                f"This gives {points:.0f} points; at most {settings.JOB_MAX_OUTPUT_POINTS}.",
            )
    rtol = _float_field(data, "relative_tolerance", errors, positive=True, limit=None)
    if rtol is not None and not MIN_RELATIVE_TOLERANCE <= rtol < 1:
        errors.add(
            "relative_tolerance",
            "out_of_range",
            f"Must be at least {MIN_RELATIVE_TOLERANCE:g} and below 1.",
        )
        rtol = None

    # Timeout.
    cap = _max_timeout(user)
    raw_timeout = data.get("timeout_seconds")
    timeout = default_timeout(version, cap)
    if raw_timeout not in (None, ""):
        number = _number(raw_timeout)
        if number is None or not number.is_integer() or number < 1:
            errors.add("timeout_seconds", "invalid_number", "Give whole seconds, at least 1.")
        elif number > cap:
            errors.add("timeout_seconds", "timeout_too_long", f"Your plan allows at most {cap} s.")
        else:
            timeout = int(number)

    start_values = _check_start_values(data.get("start_values"), catalog, version, errors)
    outputs = _check_outputs(data.get("outputs"), catalog, errors)
    inputs = _check_inputs(data.get("inputs"), catalog, errors)

    if errors:
        raise SettingsInvalid(fields=errors.fields)
    return EffectiveSettings(
        fmi_type=fmi_type,
        start_time=start_time,
        stop_time=stop_time,
        output_interval=output_interval,
        step_size=step_size,
        solver=solver,
        relative_tolerance=rtol,
        start_values=start_values,
        outputs=outputs,
        timeout_seconds=timeout,
        inputs=inputs,
    )


def _check_start_values(
    raw: Any, catalog: _Catalog, version: PackageVersion, errors: _Errors
) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, Mapping):
        errors.add("start_values", "invalid_type", "Give an object of variable names to values.")
        return {}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        variable = catalog.by_name.get(name)
        if variable is None:
            errors.add("start_values", "unknown_variable", "No such variable.", key=name)
            continue
        if not _settable(variable, version.fmi_version):
            errors.add(
                "start_values",
                "not_settable",
                f"{name} ({variable.causality or 'local'}, {variable.variability or '-'}) "
                "cannot be set before a run.",
                key=name,
            )
            continue
        coerced, error = coerce_value(variable, value)
        if error:
            errors.add("start_values", error[0], error[1], key=name)
            continue
        values[name] = coerced
    return values


def _check_outputs(raw: Any, catalog: _Catalog, errors: _Errors) -> list[str] | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        errors.add("outputs", "invalid_type", "Give a list of variable names.")
        return None
    if len(raw) > MAX_OUTPUTS:
        errors.add("outputs", "too_many", f"At most {MAX_OUTPUTS} outputs.")
        return None
    unknown = [name for name in raw if name not in catalog.by_name]
    for name in unknown:
        errors.add("outputs", "unknown_variable", f"No variable named {name!r}.")
    return list(dict.fromkeys(raw))


def _check_inputs(raw: Any, catalog: _Catalog, errors: _Errors) -> dict[str, list[float]] | None:
    if raw in (None, ""):
        return None
    if not isinstance(raw, Mapping) or "time" not in raw:
        errors.add("inputs", "invalid_type", "Give columns: {'time': [...], '<input>': [...]}.")
        return None
    columns: dict[str, list[float]] = {}
    length = None
    for name, values in raw.items():
        if name != "time":
            variable = catalog.by_name.get(name)
            if variable is None:
                errors.add("inputs", "unknown_variable", "No such variable.", key=name)
                continue
            if variable.causality != "input":
                errors.add(
                    "inputs", "not_an_input", f"{name} is not an input of the model.", key=name
                )
                continue
        if not isinstance(values, list) or not values:
            errors.add("inputs", "invalid_type", "Give a non-empty list of numbers.", key=name)
            continue
        numbers = [number for number in map(_number, values) if number is not None]
        if len(numbers) != len(values):
            errors.add("inputs", "invalid_number", "Every value must be a finite number.", key=name)
            continue
        if length is None:
            length = len(numbers)
        elif len(numbers) != length:
            errors.add("inputs", "length_mismatch", "Columns must have equal lengths.", key=name)
            continue
        columns[name] = numbers
    if length is not None and length > settings.JOB_MAX_INPUT_ROWS:
        errors.add("inputs", "too_many_rows", f"At most {settings.JOB_MAX_INPUT_ROWS} rows.")
    time = columns.get("time")
    if time and any(later < earlier for earlier, later in _pairs(time)):
        errors.add("inputs", "time_not_monotonic", "time must not decrease.", key="time")
    if len(columns) < 2 and not errors:
        errors.add("inputs", "no_signals", "Give at least one input column besides time.")
    return columns or None


def _pairs(values: list[float]) -> Iterable[tuple[float, float]]:
    return itertools.pairwise(values)
