"""Whole-run limits and metering of the sandbox: a run is every process and memory file of it.

The FMU is built here from hostile/wholerun.c; what it does is chosen per run through its
string parameter "target" (see the C file). Every test also checks that nothing of the run is
left: its cgroup is removed and no process of it is alive.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fmpy
import numpy as np
import pytest

from fmusandbox import (
    ErrorCode,
    RunStatus,
    Sandbox,
    SandboxConfig,
    SandboxLimits,
    SandboxResult,
    SimulationRequest,
    probe,
)

from .conftest import REPO, _model_description, missing_requirement
from .test_sandbox import _run_processes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

SOURCE = Path(__file__).resolve().parent / "hostile" / "wholerun.c"
MiB = 1 << 20
LIMITS = SandboxLimits(
    cpu_seconds=10,
    wall_seconds=5,
    memory_bytes=256 * MiB,
    max_file_bytes=64 * MiB,
    max_processes=16,
    max_output_bytes=8 * MiB,
    max_scratch_bytes=32 * MiB,
)


@pytest.fixture(scope="module")
def wholerun_fmu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        missing_requirement("gcc is needed to build the test FMU")
    out = tmp_path_factory.mktemp("wholerun-fmu")
    library = out / "wholerun.so"
    headers = Path(fmpy.__file__).parent / "c-code"
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-O0", "-Wall", f"-I{headers}", "-o", str(library), str(SOURCE)],
        check=True,
        capture_output=True,
    )
    fmu = out / "wholerun.fmu"
    with zipfile.ZipFile(fmu, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("modelDescription.xml", _model_description("wholerun"))
        archive.write(library, "binaries/linux64/wholerun.so")
    return fmu


@contextlib.contextmanager
def _sandbox(root: Path, **config: Any) -> Iterator[Sandbox]:
    box = Sandbox(SandboxConfig(temp_root=str(root), forbidden_paths=(str(REPO),), **config))
    report = probe(box.config)
    if not report.supported:
        missing_requirement(f"kernel isolation unavailable: {report.detail}")
    with box:
        yield box


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with _sandbox(tmp_path_factory.mktemp("wholerun-root")) as box:
        if box.isolation.cgroup == "none":
            missing_requirement(f"no cgroups for the sandbox: {box.isolation.cgroup_detail}")
        yield box


def _groups(box: Sandbox) -> set[str]:
    names: set[str] = set()
    for directory in box.cgroup_dirs.values():
        names.update(e.name for e in os.scandir(directory) if e.is_dir())
    return names


def _run(box: Sandbox, fmu: Path, target: str, limits: SandboxLimits = LIMITS) -> SandboxResult:
    """One run; then check that its group is gone and nothing of it is alive."""
    before = _groups(box)
    assert len(before) == 1, before  # the spare keeper's group, which this run will use
    result = box.run(SimulationRequest(fmu, start_values={"target": target}), limits)
    _assert_nothing_left(box, before)
    return result


def _assert_nothing_left(box: Sandbox, used: set[str]) -> None:
    deadline = time.monotonic() + 5
    while _groups(box) & used and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _groups(box) & used, "the run's cgroup was not removed"
    for directory in box.cgroup_dirs.values():
        for name in _groups(box):  # the next spare's group: its idle runner at most
            procs = Path(directory, name, "cgroup.procs").read_text(encoding="utf-8").split()
            assert len(procs) <= 1, (name, procs)
    assert _run_processes(box.zygote_pid or 0) == []


def _charge(result: SandboxResult) -> int:
    from billing.services import job_cost
    from execution.services.charging import _usage

    return job_cost(_usage(dataclasses.asdict(result.usage)), 0)


def _cost(cpu_seconds: float = 0.0, memory_mb: float = 0.0, wall_seconds: float = 0.0) -> int:
    from billing.services import job_cost

    usage = {"cpu_seconds": cpu_seconds, "memory_mb": memory_mb, "wall_seconds": wall_seconds}
    return job_cost(usage, 0)


def _storm_beside_a_steady_run(
    box: Sandbox, fmu: Path, limits: SandboxLimits
) -> dict[str, SandboxResult]:
    """A fork storm, and meanwhile a run that forks 12 children over ~0.6 s (16 allowed)."""
    results: dict[str, SandboxResult] = {}

    def work(name: str, target: str) -> None:
        request = SimulationRequest(fmu, start_values={"target": target})
        results[name] = box.run(request, limits)

    steady = threading.Thread(target=work, args=("steady", "fork-some:12:50"))
    storm = threading.Thread(target=work, args=("storm", "forkstorm"))
    steady.start()
    time.sleep(0.1)
    storm.start()
    for thread in (steady, storm):
        thread.join(30)
    return results


def _assert_good(result: SandboxResult, fmu: Path) -> None:
    assert result.status is RunStatus.SUCCEEDED, (result.code, result.message, result.log)
    plain = np.asarray(fmpy.simulate_fmu(str(fmu)))
    assert result.result is not None
    assert result.result.tobytes() == plain.tobytes()


def _need_seccomp(box: Sandbox) -> None:
    if not box.isolation.seccomp:
        missing_requirement(f"no seccomp: {box.isolation.seccomp_detail}")


def test_isolation_report_names_cgroup_and_seccomp(sandbox: Sandbox) -> None:
    _need_seccomp(sandbox)
    report = sandbox.isolation
    assert report.supported
    assert report.cgroup in ("v1", "v2")
    assert report.seccomp is True, report.seccomp_detail
    assert report.summary() == f"namespaces, cgroup {report.cgroup}, seccomp on"


# --- memory -------------------------------------------------------------------------------------


def test_memory_of_child_processes_counts_and_is_limited_for_the_whole_run(
    sandbox: Sandbox, wholerun_fmu: Path
) -> None:
    # 3 x 50 MiB: under the run's 256 MiB, and all of it is metered and charged
    result = _run(sandbox, wholerun_fmu, "mem-children:3:50")
    _assert_good(result, wholerun_fmu)
    assert "3 children held 50 MiB each" in result.log
    assert result.usage.peak_rss_mb >= 150
    assert _charge(result) >= _cost(memory_mb=150, wall_seconds=result.usage.wall_s)

    # 4 x 100 MiB: each child far under its own address-space limit, together over the run's
    result = _run(sandbox, wholerun_fmu, "mem-children:4:100")
    assert (result.status, result.code) == (RunStatus.FAILED, ErrorCode.MEMORY_LIMIT), (
        result.message,
        result.log,
    )
    assert "memory limit" in result.message
    assert result.usage.peak_rss_mb >= 200


def test_memory_held_in_memfds_counts_and_is_limited(sandbox: Sandbox, wholerun_fmu: Path) -> None:
    result = _run(sandbox, wholerun_fmu, "memfd:3:40")
    _assert_good(result, wholerun_fmu)
    assert result.usage.peak_rss_mb >= 120
    assert _charge(result) >= _cost(memory_mb=120, wall_seconds=result.usage.wall_s)

    result = _run(sandbox, wholerun_fmu, "memfd:8:40")
    assert (result.status, result.code) == (RunStatus.FAILED, ErrorCode.MEMORY_LIMIT), (
        result.message,
        result.log,
    )


# --- CPU ------------------------------------------------------------------------------------------


def test_cpu_of_child_processes_counts_and_is_limited_for_the_whole_run(
    sandbox: Sandbox, wholerun_fmu: Path
) -> None:
    result = _run(sandbox, wholerun_fmu, "cpu-children:3:600")
    _assert_good(result, wholerun_fmu)
    assert result.usage.cpu_s >= 1.8
    assert _charge(result) >= _cost(cpu_seconds=1.8)

    # each child stays under its own 2 s (RLIMIT_CPU), the three together do not
    limits = dataclasses.replace(LIMITS, cpu_seconds=2, wall_seconds=10)
    result = _run(sandbox, wholerun_fmu, "cpu-children:3:900", limits)
    assert (result.status, result.code) == (RunStatus.FAILED, ErrorCode.CPU_LIMIT), (
        result.message,
        result.log,
    )
    assert 2.0 <= result.usage.cpu_s <= 3.0
    assert _charge(result) >= _cost(cpu_seconds=2.0)


# --- processes ------------------------------------------------------------------------------------


def test_fork_storm_hits_its_own_process_limit_and_a_concurrent_run_is_unaffected(
    sandbox: Sandbox, wholerun_fmu: Path
) -> None:
    results = _storm_beside_a_steady_run(sandbox, wholerun_fmu, LIMITS)
    stormy = results["storm"]
    assert (stormy.status, stormy.code) == (RunStatus.FAILED, ErrorCode.PROCESS_LIMIT), (
        stormy.message
    )
    assert "16 processes" in stormy.message
    assert stormy.usage.wall_s < 2  # stopped at once, not at the wall-clock limit
    _assert_good(results["steady"], wholerun_fmu)
    assert "12 children ran" in results["steady"].log
    _assert_nothing_left(sandbox, set())


# --- /tmp and system calls ------------------------------------------------------------------------


def test_tmp_is_writable_and_private(sandbox: Sandbox, wholerun_fmu: Path) -> None:
    before = set(os.listdir("/tmp"))
    result = _run(sandbox, wholerun_fmu, "tmp")
    _assert_good(result, wholerun_fmu)
    assert "tmp ok: scratch data" in result.log
    assert not {n for n in os.listdir("/tmp") if n.startswith("wholerun-")} - before


FORBIDDEN = (
    "unshare",
    "setns",
    "clone",
    "mount",
    "ptrace",
    "keyctl",
    "add_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "process_vm_readv",
    "init_module",
    "io_uring_setup",
)


def test_forbidden_system_calls_fail_with_eperm_and_the_worker_lives(
    sandbox: Sandbox, wholerun_fmu: Path
) -> None:
    _need_seccomp(sandbox)
    zygote = sandbox.zygote_pid
    result = _run(sandbox, wholerun_fmu, "syscalls")
    _assert_good(result, wholerun_fmu)  # the FMU went on after the refusals
    for name in FORBIDDEN:
        assert f"{name}: refused EPERM" in result.log, (name, result.log)
    assert "fork after refusals: ok" in result.log
    assert sandbox.zygote_pid == zygote
    _assert_good(_run(sandbox, wholerun_fmu, ""), wholerun_fmu)


def test_without_seccomp_the_same_calls_go_through(tmp_path: Path, wholerun_fmu: Path) -> None:
    """Positive control: it is the filter that refuses them (and the report says it is off)."""
    with _sandbox(tmp_path, seccomp=False) as box:
        assert box.isolation.seccomp is False
        assert "seccomp off" in box.isolation.summary()
        request = SimulationRequest(wholerun_fmu, start_values={"target": "syscalls"})
        result = box.run(request, LIMITS)
        assert result.succeeded, result.message
        assert "ptrace: ALLOWED" in result.log
        assert "keyctl: ALLOWED" in result.log


# --- without cgroups ------------------------------------------------------------------------------


def test_without_cgroups_each_run_has_its_own_process_limit(
    tmp_path: Path, wholerun_fmu: Path
) -> None:
    """The fallback: per-process rlimits, and a uid per run so RLIMIT_NPROC is not shared."""
    with _sandbox(tmp_path, cgroups="off") as box:
        report = box.isolation
        assert report.cgroup == "none"
        assert report.per_run_uid in ("a uid per run", "a user namespace per run")
        assert "no cgroup" in report.summary()
        limits = dataclasses.replace(LIMITS, wall_seconds=2)
        results = _storm_beside_a_steady_run(box, wholerun_fmu, limits)
        assert results["storm"].code in (ErrorCode.TIMEOUT, ErrorCode.CPU_LIMIT)
        _assert_good(results["steady"], wholerun_fmu)
        assert _run_processes(box.zygote_pid or 0) == []
