"""Sandboxed FMU execution (pure Python, no Django).

Typical use from a Celery task::

    from fmusandbox import SandboxLimits, SimulationRequest, get_sandbox

    result = get_sandbox(config).run(
        SimulationRequest(fmu_path=path, sha256=sha, stop_time=10.0),
        SandboxLimits(cpu_seconds=30, wall_seconds=60),
    )
    if result.succeeded:
        columns = result.columns()
    else:
        store(result.status, result.code, result.message, result.log)

Several runs of one FMU for one tenant (a sweep) share one sandbox::

    results = get_sandbox(config).run_many([request1, request2, ...], limits)

Cancelling from another thread (kills just that run, the sandbox stays warm)::

    token = CancelToken()
    result = sandbox.run(request, limits, cancel=token)   # token.cancel() elsewhere

See ``runner.py`` for the process model and ``_zygote.py`` for the isolation itself.
"""

from .cache import FmuCache, FmuCacheError, sha256_file
from .datatypes import (
    ErrorCode,
    IsolationReport,
    RunStatus,
    SandboxConfig,
    SandboxLimits,
    SandboxResult,
    SandboxUsage,
    SimulationRequest,
)
from .runner import (
    CancelToken,
    Sandbox,
    SandboxUnavailableError,
    close_sandbox,
    ensure_supported,
    get_sandbox,
    probe,
)

__all__ = [
    "CancelToken",
    "ErrorCode",
    "FmuCache",
    "FmuCacheError",
    "IsolationReport",
    "RunStatus",
    "Sandbox",
    "SandboxConfig",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailableError",
    "SandboxUsage",
    "SimulationRequest",
    "close_sandbox",
    "ensure_supported",
    "get_sandbox",
    "probe",
    "sha256_file",
]
