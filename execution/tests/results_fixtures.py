"""Finished jobs with stored results, made the way the run task stores them
(``results.store_result`` then the job's result fields), for tests of what is read back:
downloads, the results table, history and the compare page. Use with the ``storage_dirs``
fixture (execution/tests/fixtures.py) or a live server's own results storage."""

from __future__ import annotations

import csv
import io
import math
import uuid
from typing import Any

import numpy as np

from execution import results
from execution.models import JobStatus, SimulationJob
from registry.factories import PackageVersionFactory
from registry.models import PackageVersion, Variable

DTYPE = [("time", "f8"), ("x", "f8"), ("v", "f8"), ("n", "i4"), ("on", "?")]
UNITS = {"x": "m", "v": "m/s", "k": "N/m"}


def version_with_units(owner, **kwargs: Any) -> PackageVersion:
    """A version whose variables ``x`` (m), ``v`` (m/s), ``k`` (N/m, a parameter), ``n``, ``on``
    are in the catalog, as an inspected upload's would be."""
    version = PackageVersionFactory.create(package__owner=owner, **kwargs)
    causality = {"k": "parameter"}
    for reference, name in enumerate(("x", "v", "k", "n", "on")):
        Variable.objects.create(
            version=version,
            name=name,
            value_reference=reference,
            causality=causality.get(name, "output"),
            type={"n": "Integer", "on": "Boolean"}.get(name, "Real"),
            unit=UNITS.get(name, ""),
        )
    return version


def damped(rows: int, *, k: float = 1.0, nan_at: int | None = None) -> np.ndarray:
    """A result of ``rows`` rows: a damped oscillation with stiffness ``k`` (values that need
    all 17 digits), an integer counter and a boolean; optionally one NaN in ``x``."""
    array = np.zeros(rows, dtype=DTYPE)
    time = np.linspace(0.0, 10.0, rows) if rows > 1 else np.zeros(rows)
    array["time"] = time
    array["x"] = np.exp(-0.1 * time) * np.cos(np.sqrt(k) * time)
    array["v"] = np.gradient(array["x"], time) if rows > 1 else 0.0
    array["n"] = np.arange(rows, dtype=np.int32) * 3 - 7
    array["on"] = array["x"] > 0
    if nan_at is not None:
        array["x"][nan_at] = np.nan
    return array


def finished_job(
    owner, version: PackageVersion, array: np.ndarray, settings: dict | None = None, **fields
) -> SimulationJob:
    """A succeeded job of ``owner`` whose stored result is ``array``."""
    job_id = uuid.uuid4()
    stored = results.store_result(f"jobs/{job_id}", array)
    return SimulationJob.objects.create(
        id=job_id,
        owner=owner,
        version=version,
        sha256=version.sha256,
        status=JobStatus.SUCCEEDED,
        settings={
            "fmi_type": "CoSimulation",
            "start_time": 0.0,
            "stop_time": 10.0,
            "output_interval": None,
            "step_size": None,
            "solver": "CVode",
            "relative_tolerance": None,
            "start_values": {},
            "outputs": None,
            "timeout_seconds": 60,
            **(settings or {}),
        },
        result_npy_key=stored.npy_key,
        result_csv_key=stored.csv_key,
        result_sha256=stored.sha256,
        result_rows=stored.rows,
        result_columns=stored.columns,
        result_stats=results.column_stats(array),
        fmpy_version="0.3.32",
        wall_s=0.25,
        cpu_s=0.2,
        **fields,
    )


def csv_as_json(data: bytes, like: dict[str, list]) -> dict[str, list]:
    """The CSV's columns parsed back with the JSON's types (booleans are written 1/0)."""
    rows = list(csv.reader(io.StringIO(data.decode())))
    out: dict[str, list] = {name: [] for name in rows[0]}
    for row in rows[1:]:
        for name, text in zip(rows[0], row, strict=True):
            sample = next((v for v in like[name] if v is not None), 0.0)
            if isinstance(sample, bool):
                out[name].append(bool(int(text)))
            elif isinstance(sample, int):
                out[name].append(int(text))
            else:
                number = float(text)
                out[name].append(number if math.isfinite(number) else None)
    return out
