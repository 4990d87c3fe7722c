"""Test vectors: compare a simulation result with a reference CSV within a tolerance.

Pure Python + numpy (no Django), shared by the sample FMU tests and by the registry's
validation of creators' test vectors (a reference CSV plus a tolerance).

Reference CSV format: a header row with column names, the first column is time
(non-decreasing; a repeated time marks an event, the first row being the value before
and the last the value after it), all other cells are numbers.

A point passes if ``|simulated - reference| <= atol + rtol * |reference|`` (the rule of
``numpy.isclose``); a column passes if all its points do.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "MAX_REFERENCE_ROWS",
    "ColumnReport",
    "ComparisonReport",
    "ReferenceFormatError",
    "Tolerance",
    "compare_to_reference",
    "read_reference_csv",
]

DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-6
# Creators upload reference files: bound the work a single file can cause.
MAX_REFERENCE_ROWS = 1_000_000


class ReferenceFormatError(ValueError):
    """The reference CSV (or the tolerance specification) is malformed."""


@dataclass(frozen=True)
class Tolerance:
    """Which reference columns to check and how closely (see module docstring)."""

    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    columns: tuple[str, ...] | None = None  # None: every column of the reference

    def __post_init__(self) -> None:
        _check_tolerance(self.rtol, self.atol)
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(self.columns))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tolerance:
        unknown = set(data) - {"rtol", "atol", "columns"}
        if unknown:
            raise ReferenceFormatError(f"unknown tolerance keys: {sorted(unknown)}")
        columns = data.get("columns")
        if columns is not None and (
            isinstance(columns, str) or not all(isinstance(c, str) for c in columns)
        ):
            raise ReferenceFormatError("tolerance 'columns' must be a list of column names")
        try:
            return cls(
                rtol=float(data.get("rtol", DEFAULT_RTOL)),
                atol=float(data.get("atol", DEFAULT_ATOL)),
                columns=tuple(columns) if columns is not None else None,
            )
        except (TypeError, ValueError) as exc:
            raise ReferenceFormatError(f"invalid tolerance: {exc}") from exc

    @classmethod
    def load(cls, path: Path) -> Tolerance:
        """Read a tolerance JSON file such as ``{"columns": ["h"], "rtol": 1e-3, "atol": 1e-4}``."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ReferenceFormatError(f"{path}: invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ReferenceFormatError(f"{path}: expected a JSON object")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rtol": self.rtol, "atol": self.atol}
        if self.columns is not None:
            data["columns"] = list(self.columns)
        return data


@dataclass(frozen=True)
class ColumnReport:
    name: str
    max_abs_error: float
    max_rel_error: float  # relative to max(|reference|, atol), see _relative_errors()
    failed_points: int
    worst_time: float | None  # time of the point with the least margin to its tolerance
    passed: bool


@dataclass(frozen=True)
class ComparisonReport:
    rtol: float
    atol: float
    n_points: int
    columns: tuple[ColumnReport, ...]
    missing_columns: tuple[str, ...] = ()  # requested but absent from the result
    uncovered_points: int = 0  # reference points outside the simulated time range
    messages: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return (
            not self.missing_columns
            and self.uncovered_points == 0
            and all(column.passed for column in self.columns)
        )

    def column(self, name: str) -> ColumnReport:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def summary(self) -> str:
        lines = [
            f"{'PASSED' if self.passed else 'FAILED'}: {self.n_points} reference points, "
            f"rtol={self.rtol:g}, atol={self.atol:g}"
        ]
        for c in self.columns:
            where = f" (worst at t={c.worst_time:g})" if c.worst_time is not None else ""
            lines.append(
                f"  {c.name}: {'ok' if c.passed else 'FAIL'} max abs error {c.max_abs_error:.3g}, "
                f"max rel error {c.max_rel_error:.3g}, {c.failed_points} points out of "
                f"tolerance{where}"
            )
        lines.extend(f"  {message}" for message in self.messages)
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (e.g. to store with a validation run)."""
        data = asdict(self)
        data["passed"] = self.passed
        for column in data["columns"]:
            for key in ("max_abs_error", "max_rel_error"):
                if not math.isfinite(column[key]):
                    column[key] = None  # JSON has no inf/nan
        return data


def _check_tolerance(rtol: float, atol: float) -> None:
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ReferenceFormatError(f"{name} must be a finite number >= 0, got {value!r}")


def read_reference_csv(path: Path, max_rows: int = MAX_REFERENCE_ROWS) -> np.ndarray:
    """Read a reference CSV into a structured array of float64 fields (first field: time)."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: tolerate a BOM
        rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise ReferenceFormatError(f"{path.name}: the file is empty")
    names = [name.strip() for name in rows[0]]
    if any(not name for name in names) or len(set(names)) != len(names):
        raise ReferenceFormatError(f"{path.name}: column names must be non-empty and unique")
    if len(names) < 2:
        raise ReferenceFormatError(f"{path.name}: need a time column and at least one more")
    body = rows[1:]
    if not body:
        raise ReferenceFormatError(f"{path.name}: no data rows")
    if len(body) > max_rows:
        raise ReferenceFormatError(f"{path.name}: more than {max_rows} data rows")

    values = np.empty((len(body), len(names)))
    for i, row in enumerate(body):
        if len(row) != len(names):
            raise ReferenceFormatError(
                f"{path.name}, line {i + 2}: expected {len(names)} values, got {len(row)}"
            )
        try:
            values[i] = [float(cell) for cell in row]
        except ValueError as exc:
            raise ReferenceFormatError(f"{path.name}, line {i + 2}: {exc}") from exc

    time = values[:, 0]
    if not np.all(np.isfinite(time)):
        raise ReferenceFormatError(f"{path.name}: time values must be finite")
    if np.any(np.diff(time) < 0):
        raise ReferenceFormatError(f"{path.name}: time must be non-decreasing")

    result = np.empty(len(body), dtype=[(name, np.float64) for name in names])
    for j, name in enumerate(names):
        result[name] = values[:, j]
    return result


def _resample(
    time: np.ndarray, values: np.ndarray, query: np.ndarray, use_left: np.ndarray
) -> np.ndarray:
    """Linear interpolation of values(time) at query, aware of events (repeated times):
    between two times it interpolates from the value after the earlier event to the value
    before the later one; exactly at an event time it takes the value after the event,
    or the one before it where use_left is set. Outside the time range: the end values."""
    n = len(time)
    upper = np.searchsorted(time, query, side="right")  # first row later than query
    lower = np.clip(upper - 1, 0, n - 1)  # last row at or before query (after events)
    upper = np.clip(upper, 0, n - 1)
    span = time[upper] - time[lower]
    weight = np.divide(query - time[lower], span, out=np.zeros_like(query), where=span > 0)
    weight = np.clip(weight, 0.0, 1.0)
    result = values[lower] + weight * (values[upper] - values[lower])

    first = np.clip(np.searchsorted(time, query, side="left"), 0, n - 1)
    before_event = use_left & (time[first] == query)
    result[before_event] = values[first[before_event]]
    return result


def _relative_errors(abs_err: np.ndarray, reference: np.ndarray, atol: float) -> np.ndarray:
    # Dividing by |reference| alone explodes where the signal crosses zero; below atol the
    # absolute error is what matters anyway.
    floor = atol if atol > 0 else np.finfo(float).tiny
    return abs_err / np.maximum(np.abs(reference), floor)


def compare_to_reference(
    result: np.ndarray,
    reference_csv: Path | np.ndarray,
    columns: Sequence[str] | None = None,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> ComparisonReport:
    """Compare a simulation result with a reference.

    result: structured array with a ``time`` field (as returned by ``fmpy.simulate_fmu``).
    reference_csv: path of a reference CSV, or an array as returned by read_reference_csv().
    columns: reference columns to check (default: all except time).

    The result is interpolated linearly onto the reference time grid. Raises
    ReferenceFormatError for a malformed reference or unknown columns; a mismatch is
    reported in the returned ComparisonReport, never raised.
    """
    _check_tolerance(rtol, atol)
    if isinstance(reference_csv, np.ndarray):
        reference = reference_csv
    else:
        reference = read_reference_csv(Path(reference_csv))
    ref_names = list(reference.dtype.names or ())
    ref_time = np.asarray(reference[ref_names[0]], dtype=float)
    if columns is None:
        columns = ref_names[1:]
    unknown = [c for c in columns if c not in ref_names[1:]]
    if unknown:
        raise ReferenceFormatError(f"columns not in the reference: {', '.join(unknown)}")

    res_names = result.dtype.names or ()
    if "time" not in res_names:
        raise ValueError("the result has no 'time' field")
    res_time = np.asarray(result["time"], dtype=float)
    messages: list[str] = []
    if len(res_time) == 0:
        uncovered = len(ref_time)
        messages.append("the result is empty")
    else:
        # the end points may differ by round-off (e.g. 2.9999999999999996 vs 3)
        span = max(abs(res_time[-1] - res_time[0]), 1.0)
        eps = 1e-9 * span
        outside = (ref_time < res_time[0] - eps) | (ref_time > res_time[-1] + eps)
        uncovered = int(np.count_nonzero(outside))
        if uncovered:
            messages.append(
                f"{uncovered} reference points lie outside the simulated time range "
                f"[{res_time[0]:g}, {res_time[-1]:g}]"
            )

    # of several reference rows at one (event) time, all but the last are "before" values
    use_left = np.zeros(len(ref_time), dtype=bool)
    use_left[:-1] = ref_time[:-1] == ref_time[1:]

    reports: list[ColumnReport] = []
    missing: list[str] = []
    for name in columns:
        if name not in res_names:
            missing.append(name)
            continue
        expected = np.asarray(reference[name], dtype=float)
        if len(res_time) == 0:
            actual = np.full_like(expected, np.nan)
        else:
            actual = _resample(res_time, np.asarray(result[name], dtype=float), ref_time, use_left)
        abs_err = np.abs(actual - expected)
        abs_err[np.isnan(abs_err)] = np.inf  # NaN anywhere is a failure, not a pass
        bound = atol + rtol * np.abs(expected)
        failed = ~(abs_err <= bound)
        rel_err = _relative_errors(abs_err, expected, atol)
        worst = int(np.argmax(abs_err - bound)) if len(abs_err) else None
        reports.append(
            ColumnReport(
                name=name,
                max_abs_error=float(abs_err.max()) if len(abs_err) else 0.0,
                max_rel_error=float(rel_err.max()) if len(rel_err) else 0.0,
                failed_points=int(np.count_nonzero(failed)),
                worst_time=float(ref_time[worst]) if worst is not None else None,
                passed=not failed.any(),
            )
        )
    if missing:
        messages.append(f"columns missing from the result: {', '.join(missing)}")

    return ComparisonReport(
        rtol=float(rtol),
        atol=float(atol),
        n_points=len(ref_time),
        columns=tuple(reports),
        missing_columns=tuple(missing),
        uncovered_points=uncovered,
        messages=tuple(messages),
    )
