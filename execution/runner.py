"""The Django side of the sandbox: one warm sandbox per worker process, configured from settings.

Every FMU that the product loads — validation smoke runs, test vectors, jobs, sweeps — goes
through ``run_sandboxed``; nothing loads an FMU binary in a Django or Celery process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from execution import sandbox as sandbox_lib


def sandbox_config() -> sandbox_lib.SandboxConfig:
    return sandbox_lib.SandboxConfig(
        temp_root=settings.FMU_SANDBOX_TEMP_ROOT or None,
        allow_insecure=settings.FMU_SANDBOX_ALLOW_INSECURE,
        forbidden_paths=(str(settings.BASE_DIR), str(settings.VAR_DIR)),
    )


def default_limits(**overrides) -> sandbox_lib.SandboxLimits:
    values = {
        "cpu_seconds": settings.SIMULATION_CPU_SECONDS,
        "wall_seconds": settings.SIMULATION_WALL_SECONDS,
        "memory_bytes": settings.SIMULATION_MEMORY_MB * 1024 * 1024,
        "max_output_bytes": settings.SIMULATION_MAX_OUTPUT_MB * 1024 * 1024,
    }
    values.update(overrides)
    return sandbox_lib.SandboxLimits(**values)


def get_sandbox() -> sandbox_lib.Sandbox:
    """This process's warm sandbox (the library forgets it after a fork, e.g. in Celery's pool)."""
    return sandbox_lib.get_sandbox(sandbox_config())


def run_sandboxed(
    fmu_path: Path,
    sha256: str | None,
    *,
    limits: sandbox_lib.SandboxLimits | None = None,
    inputs=None,
    outputs=None,
    **simulation: Any,
) -> dict[str, Any]:
    """Simulate in the sandbox; returns ``{"summary": {...}, "result": ndarray | None}``.

    The summary is JSON-safe: status, code, message, usage and the number of result rows.
    """
    request = sandbox_lib.SimulationRequest(
        fmu_path=str(fmu_path),
        sha256=sha256,
        input=inputs,
        output=outputs,
        **{key: value for key, value in simulation.items() if value is not None},
    )
    result = get_sandbox().run(request, limits or default_limits())
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
