"""Typed configuration, request and result objects of the FMU sandbox (no Django here)."""

from __future__ import annotations

import enum
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MiB = 1 << 20
GiB = 1 << 30

StartValue = float | int | bool | str | Sequence[float | int | bool]


class RunStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"  # killed through a CancelToken


class ErrorCode(enum.StrEnum):
    """Stable machine-readable reasons; safe to store and to show to API clients."""

    FMU_CRASHED = "fmu_crashed"  # killed by a signal (message names it) or exited on its own
    FMU_ABORTED = "fmu_aborted"  # SIGABRT (abort(), failed assert, std::terminate)
    TIMEOUT = "timeout"  # wall-clock limit; the whole process tree was SIGKILLed
    CPU_LIMIT = "cpu_limit"  # the run's CPU time (all its processes, with a cgroup) ran out
    MEMORY_LIMIT = "memory_limit"
    PROCESS_LIMIT = "process_limit"  # the run reached its process/thread limit (cgroup)
    OUTPUT_TOO_LARGE = "output_too_large"
    FILE_SIZE_LIMIT = "file_size_limit"
    SIMULATION_ERROR = "simulation_error"  # fmpy raised; message comes from inside the sandbox
    INVALID_FMU = "invalid_fmu"  # unreadable archive, unsafe paths, hash mismatch, zip bomb
    INVALID_REQUEST = "invalid_request"
    SANDBOX_UNAVAILABLE = "sandbox_unavailable"  # kernel isolation missing and insecure not allowed
    SANDBOX_ERROR = "sandbox_error"  # internal failure of the runner itself
    # The simulation process itself reported an internal error. FMU code runs in that process and
    # could forge such a report, so unlike SANDBOX_ERROR this is never treated as the platform's
    # fault (it is charged).
    RUNNER_ERROR = "runner_error"
    CANCELLED = "cancelled"  # the caller cancelled the run (CancelToken); it was killed
    NOT_RUN = "not_run"  # run_many stopped (its overall time limit) before this run started


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run resource limits.

    With a cgroup (the normal case, see ``IsolationReport.cgroup``) the limits hold for the
    whole run: every process and thread the FMU starts and every memory page it touches,
    memory files (memfd, shared memory, /tmp) included. ``memory_bytes`` is then the memory
    the run's group may be charged on top of the warm interpreter it shares with the zygote;
    each process also keeps an address-space limit (RLIMIT_AS) of its starting size plus this.
    ``max_processes`` limits the run's processes and threads together (the runner is one).
    ``cpu_seconds`` is the CPU time of all of them.

    Without a cgroup they are per-process rlimits, and each concurrent run gets a uid (root
    worker) or user namespace (other workers) of its own so that RLIMIT_NPROC is not shared.
    """

    cpu_seconds: float = 60.0
    wall_seconds: float = 120.0
    memory_bytes: int = 2 * GiB
    max_open_files: int = 64
    max_file_bytes: int = 64 * MiB
    max_processes: int = 32
    max_output_bytes: int = 64 * MiB
    max_scratch_bytes: int = 128 * MiB  # total size of the private tmpfs working directory
    max_log_bytes: int = 256 * 1024

    def validate(self) -> None:
        numbers = {
            "cpu_seconds": self.cpu_seconds,
            "wall_seconds": self.wall_seconds,
            "memory_bytes": self.memory_bytes,
            "max_file_bytes": self.max_file_bytes,
            "max_output_bytes": self.max_output_bytes,
            "max_scratch_bytes": self.max_scratch_bytes,
            "max_log_bytes": self.max_log_bytes,
        }
        for name, value in numbers.items():
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"SandboxLimits.{name} must be a positive number")
        if self.max_open_files < 16:
            raise ValueError("SandboxLimits.max_open_files must be at least 16")
        if self.max_processes < 1:
            raise ValueError("SandboxLimits.max_processes must be at least 1")
        if self.max_output_bytes < 64 * 1024:
            raise ValueError("SandboxLimits.max_output_bytes must be at least 64 KiB")

    def to_wire(self) -> dict[str, Any]:
        # RLIMIT_FSIZE also applies to the result/log memfds, so it must admit them; the
        # memfds themselves are sealed at their caps.
        fsize = max(self.max_file_bytes, self.max_output_bytes, self.max_log_bytes) + MiB
        return {
            "cpu_seconds": max(1, math.ceil(self.cpu_seconds)),
            "wall_seconds": float(self.wall_seconds),
            "memory_bytes": int(self.memory_bytes),
            "max_open_files": int(self.max_open_files),
            "max_processes": int(self.max_processes),
            "max_output_bytes": int(self.max_output_bytes),
            "max_scratch_bytes": int(self.max_scratch_bytes),
            "max_log_bytes": int(self.max_log_bytes),
            "fsize_bytes": int(fsize),
        }


@dataclass(frozen=True)
class SandboxConfig:
    """Process-level settings; the Django side builds this from its settings.

    ``allow_insecure`` (FMU_SANDBOX_ALLOW_INSECURE) lets the runner work without kernel
    isolation (no namespaces, no private root): only for development machines.
    ``forbidden_paths`` (e.g. the project's BASE_DIR) must never become visible in the sandbox;
    the zygote refuses to start if a needed bind mount would contain one of them.
    """

    temp_root: str | None = None  # default: <tmp>/fmu-sandbox-<uid>
    cache_dir: str | None = None  # default: per-process dir under temp_root, removed on close
    allow_insecure: bool = False
    sandbox_uid: int = 65534
    sandbox_gid: int = 65534
    python_executable: str = sys.executable
    extra_ro_paths: tuple[str, ...] = ()
    forbidden_paths: tuple[str, ...] = ()
    cache_max_entries: int = 64
    cache_max_bytes: int = 2 * GiB  # extracted FMUs kept per worker process (LRU eviction)
    max_unpacked_bytes: int = 2 * GiB
    cgroups: str = "auto"  # "auto": a cgroup per run where possible; "off": rlimits only
    cgroup_v2_parent: str | None = None  # a delegated v2 directory (default: probed)
    seccomp: bool = True  # refuse the system calls in _seccomp.DENIED (when libseccomp loads)
    run_uid_base: int = 1_900_000_000  # first per-run uid (root worker without cgroups)
    start_timeout: float = 60.0
    reply_grace_seconds: float = 5.0  # on top of wall_seconds before the worker gives up
    force_no_isolation: bool = False  # test hook: behave as if the kernel had no namespaces

    def __post_init__(self) -> None:
        if self.cgroups not in ("auto", "off"):
            raise ValueError("SandboxConfig.cgroups must be 'auto' or 'off'")


@dataclass
class SimulationRequest:
    """Arguments of one simulation; mirrors :func:`fmpy.simulate_fmu`."""

    fmu_path: str | os.PathLike[str]
    sha256: str | None = None  # trusted content hash (registry); computed when missing
    fmi_type: str | None = None  # "ModelExchange", "CoSimulation" or None (FMU decides)
    start_time: float | None = None
    stop_time: float | None = None
    output_interval: float | None = None
    step_size: float | None = None
    solver: str = "CVode"
    relative_tolerance: float | None = None
    record_events: bool = True
    start_values: Mapping[str, StartValue] = field(default_factory=dict)
    input: np.ndarray | Mapping[str, Sequence[float]] | None = None
    output: Sequence[str] | None = None
    validate: bool = True
    debug_logging: bool = False
    set_input_derivatives: bool = False

    def fmpy_kwargs(self) -> dict[str, Any]:
        """Validated keyword arguments for ``fmpy.simulate_fmu`` (JSON-serialisable)."""
        if self.fmi_type not in (None, "ModelExchange", "CoSimulation"):
            raise ValueError("fmi_type must be 'ModelExchange', 'CoSimulation' or None")
        if self.solver not in ("CVode", "Euler"):
            raise ValueError("solver must be 'CVode' or 'Euler'")
        kwargs: dict[str, Any] = {
            "validate": bool(self.validate),
            "solver": self.solver,
            "record_events": bool(self.record_events),
            "fmi_type": self.fmi_type,
            "debug_logging": bool(self.debug_logging),
            "set_input_derivatives": bool(self.set_input_derivatives),
        }
        for name in (
            "start_time",
            "stop_time",
            "output_interval",
            "step_size",
            "relative_tolerance",
        ):
            value = getattr(self, name)
            if value is not None:
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError(f"{name} must be finite")
            kwargs[name] = value
        start_values: dict[str, Any] = {}
        for key, value in dict(self.start_values).items():
            if not isinstance(key, str):
                raise ValueError("start value names must be strings")
            start_values[key] = _json_start_value(key, value)
        kwargs["start_values"] = start_values
        if self.output is not None:
            if isinstance(self.output, str) or not all(isinstance(n, str) for n in self.output):
                raise ValueError("output must be a list of variable names")
            kwargs["output"] = list(self.output)
        return kwargs

    def input_array(self) -> np.ndarray | None:
        """The input signals as a structured array with a leading 'time' field, or None."""
        if self.input is None:
            return None
        if isinstance(self.input, np.ndarray):
            array = self.input
        else:
            columns = dict(self.input)
            if "time" not in columns:
                raise ValueError("input needs a 'time' column")
            names = ["time"] + [n for n in columns if n != "time"]
            data = [np.asarray(columns[n], dtype=np.float64) for n in names]
            if any(d.ndim != 1 or len(d) != len(data[0]) for d in data):
                raise ValueError("input columns must be 1-D and of equal length")
            array = np.zeros(len(data[0]), dtype=[(n, np.float64) for n in names])
            for n, d in zip(names, data, strict=False):
                array[n] = d
        if array.dtype.names is None or array.dtype.names[0] != "time" or array.ndim != 1:
            raise ValueError("input must be a 1-D structured array whose first field is 'time'")
        if array.dtype.hasobject:
            raise ValueError("input must not contain Python objects")
        return array


def _json_start_value(name: str, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"start value {name!r} must be finite")
        return value
    if isinstance(value, Sequence | np.ndarray):
        return [_json_start_value(name, v) for v in value]
    raise ValueError(f"start value {name!r} has unsupported type {type(value).__name__}")


@dataclass
class SandboxUsage:
    """What a run used, measured by trusted code (the keeper), children included.

    ``cpu_s``: CPU time of all the run's processes. ``peak_rss_mb``: its memory footprint, the
    warm interpreter's pages (shared with the zygote, counted once) plus the peak of what its
    cgroup was charged (every process, memory files and /tmp included); without a cgroup the
    runner process's peak RSS.
    """

    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    wall_s: float = 0.0
    output_bytes: int = 0


@dataclass
class SandboxResult:
    status: RunStatus
    code: ErrorCode | None = None
    message: str = ""
    result: np.ndarray | None = None  # structured array: 'time' + recorded variables
    usage: SandboxUsage = field(default_factory=SandboxUsage)
    log: str = ""  # the FMU's log and stdout/stderr, at most max_log_bytes
    log_truncated: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    def columns(self) -> dict[str, np.ndarray]:
        if self.result is None:
            return {}
        return {name: self.result[name] for name in self.result.dtype.names or ()}


@dataclass(frozen=True)
class IsolationReport:
    """What :func:`probe` found out about the kernel's isolation support."""

    supported: bool  # namespaces (PID, mount, network, IPC, UTS) and a private root
    detail: str
    running_as_root: bool
    user_namespace: bool  # True when isolation relies on an unprivileged user namespace
    mounts: tuple[str, ...] = ()  # read-only directories exposed inside the sandbox
    cgroup: str = "none"  # "v1", "v2" or "none": whole-run limits and metering
    cgroup_detail: str = ""  # the groups' directories, or why there are none
    seccomp: bool = False  # system call filter installed in every run
    seccomp_detail: str = ""
    per_run_uid: str = ""  # without cgroups: "a uid per run", "a user namespace per run" or ""

    def summary(self) -> str:
        """One line for logs and the admin, e.g. "namespaces, cgroup v1, seccomp on"."""
        parts = ["namespaces" if self.supported else "NO namespaces"]
        if self.cgroup == "none":
            fallback = self.per_run_uid or "one process limit for all runs"
            parts.append(f"no cgroup (per-process rlimits, {fallback})")
        else:
            parts.append(f"cgroup {self.cgroup}")
        parts.append("seccomp on" if self.seccomp else "seccomp off")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespaces": self.supported,
            "cgroup": self.cgroup,
            "cgroup_detail": self.cgroup_detail,
            "seccomp": self.seccomp,
            "seccomp_detail": self.seccomp_detail,
            "per_run_uid": self.per_run_uid,
            "summary": self.summary(),
        }
