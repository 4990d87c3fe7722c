"""The Django side of the sandbox: one warm sandbox per worker process, configured from settings.

Every FMU that the product loads — validation smoke runs, test vectors, jobs, sweeps — goes
through ``run_sandboxed``; nothing loads an FMU binary in a Django or Celery process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

import fmusandbox as sandbox_lib

logger = logging.getLogger(__name__)


def sandbox_config() -> sandbox_lib.SandboxConfig:
    return sandbox_lib.SandboxConfig(
        temp_root=settings.FMU_SANDBOX_TEMP_ROOT or None,
        allow_insecure=settings.FMU_SANDBOX_ALLOW_INSECURE,
        forbidden_paths=(str(settings.BASE_DIR), str(settings.VAR_DIR)),
        cache_max_bytes=settings.FMU_SANDBOX_CACHE_MAX_MB * 1024 * 1024,
        cgroups=settings.FMU_SANDBOX_CGROUPS,
        cgroup_v2_parent=settings.FMU_SANDBOX_CGROUP_PARENT or None,
        seccomp=settings.FMU_SANDBOX_SECCOMP,
        run_uid_base=settings.FMU_SANDBOX_RUN_UID_BASE,
    )


def isolation_status() -> dict[str, Any]:
    """What the worker heartbeat says about this worker's sandbox (``/healthz``, the admin).

    The probe is cached per process: it builds one sandbox root once.
    """
    report = sandbox_lib.probe(sandbox_config())
    return {
        "isolated": report.supported,
        "usable": report.supported or settings.FMU_SANDBOX_ALLOW_INSECURE,
        "detail": report.detail,
        "user_namespace": report.user_namespace,
        **report.as_dict(),
    }


def log_isolation(**_: Any) -> None:
    """At worker start: say which isolation runs get (a warning when a part is missing)."""
    status = isolation_status()
    if not status["isolated"] or status["cgroup"] == "none" or not status["seccomp"]:
        logger.warning(
            "FMU sandbox isolation: %s (cgroups: %s; seccomp: %s)",
            status["summary"],
            status["cgroup_detail"],
            status["seccomp_detail"],
        )
    else:
        logger.info("FMU sandbox isolation: %s", status["summary"])


def close_sandbox(**_: Any) -> None:
    """At worker (pool process) shutdown: stop the zygote, remove its cgroups and FMU cache."""
    sandbox_lib.close_sandbox()


def default_limits(
    *, cpu_seconds: float | None = None, wall_seconds: float | None = None
) -> sandbox_lib.SandboxLimits:
    """The settings' run limits; a run's own CPU and wall-clock limits when given."""
    return sandbox_lib.SandboxLimits(
        cpu_seconds=settings.SIMULATION_CPU_SECONDS if cpu_seconds is None else cpu_seconds,
        wall_seconds=settings.SIMULATION_WALL_SECONDS if wall_seconds is None else wall_seconds,
        memory_bytes=settings.SIMULATION_MEMORY_MB * 1024 * 1024,
        max_output_bytes=settings.SIMULATION_MAX_OUTPUT_MB * 1024 * 1024,
    )


def get_sandbox() -> sandbox_lib.Sandbox:
    """This process's warm sandbox (the library forgets it after a fork, e.g. in Celery's pool)."""
    return sandbox_lib.get_sandbox(sandbox_config())


# A run's inputs: a structured array, or signal name -> values (``SimulationRequest.input``).
Inputs = np.ndarray | Mapping[str, Sequence[float]] | None


def _request(
    fmu_path: Path,
    sha256: str | None,
    *,
    inputs: Inputs = None,
    outputs: Sequence[str] | None = None,
    **simulation: Any,
) -> sandbox_lib.SimulationRequest:
    return sandbox_lib.SimulationRequest(
        fmu_path=str(fmu_path),
        sha256=sha256,
        input=inputs,
        output=outputs,
        **{key: value for key, value in simulation.items() if value is not None},
    )


def _outcome(result: sandbox_lib.SandboxResult) -> dict[str, Any]:
    summary = {
        "status": str(result.status),
        "code": str(result.code) if result.code else None,
        "message": result.message,
        "usage": {
            "cpu_s": result.usage.cpu_s,
            "peak_rss_mb": result.usage.peak_rss_mb,
            "wall_s": result.usage.wall_s,
            "output_bytes": result.usage.output_bytes,
        },
        "rows": len(result.result) if result.result is not None else 0,
    }
    return {
        "summary": summary,
        "result": result.result if result.succeeded else None,
        "log": result.log,
    }


def run_sandboxed(
    fmu_path: Path,
    sha256: str | None,
    *,
    limits: sandbox_lib.SandboxLimits | None = None,
    inputs: Inputs = None,
    outputs: Sequence[str] | None = None,
    cancel: sandbox_lib.CancelToken | None = None,
    **simulation: Any,
) -> dict[str, Any]:
    """Simulate in the sandbox; returns ``{"summary": {...}, "result": ndarray | None}``.

    The summary is JSON-safe: status, code, message, usage and the number of result rows.
    ``cancel.cancel()`` from another thread kills just this run (status ``cancelled``).
    """
    request = _request(fmu_path, sha256, inputs=inputs, outputs=outputs, **simulation)
    result = get_sandbox().run(request, limits or default_limits(), cancel=cancel)
    return _outcome(result)


def run_sandboxed_many(
    fmu_path: Path,
    sha256: str | None,
    runs: list[dict[str, Any]],
    *,
    limits: sandbox_lib.SandboxLimits | None = None,
    cancel: sandbox_lib.CancelToken | None = None,
) -> list[dict[str, Any]]:
    """Several runs of ONE FMU for ONE tenant in one sandbox (``Sandbox.run_many``).

    ``runs`` holds each run's keyword arguments as for :func:`run_sandboxed` (``inputs``,
    ``outputs`` and the simulation settings); returns one outcome per run, in order.
    """
    requests = [_request(fmu_path, sha256, **run) for run in runs]
    results = get_sandbox().run_many(requests, limits or default_limits(), cancel=cancel)
    return [_outcome(result) for result in results]
