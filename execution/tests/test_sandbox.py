"""Tests of the sandboxed FMU runner: containment of hostile FMUs, fidelity, robustness."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fmpy
import numpy as np
import pytest

from execution.tests.fixtures import instance_leftovers
from fmusandbox import (
    CancelToken,
    ErrorCode,
    RunStatus,
    Sandbox,
    SandboxConfig,
    SandboxLimits,
    SandboxResult,
    SandboxUnavailableError,
    SimulationRequest,
    probe,
    sha256_file,
)

from .conftest import REPO, missing_requirement, shared_fmu

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

SECRET_ENV_NAME = "FMU_GATEWAY_TEST_SECRET"
SECRET_ENV_VALUE = f"env-secret-{secrets.token_hex(8)}"
SECRET_FILE_VALUE = f"file-secret-{secrets.token_hex(8)}"

#: Tight limits so that every hostile run ends within a couple of seconds.
TIGHT = SandboxLimits(
    cpu_seconds=10,
    wall_seconds=2,
    memory_bytes=256 << 20,
    max_file_bytes=8 << 20,
    max_processes=16,
    max_output_bytes=8 << 20,
    max_scratch_bytes=32 << 20,
)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                children = (
                    Path(f"/proc/{current}/task/{task}/children")
                    .read_text(encoding="utf-8")
                    .split()
                )
            except FileNotFoundError:
                continue
            for child in map(int, children):
                found.append(child)
                stack.append(child)
    return found


@pytest.fixture(scope="module")
def temp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox-temp-root")


@pytest.fixture(scope="module")
def sandbox(temp_root: Path) -> Iterator[Sandbox]:
    # The secret is in the worker's environment *before* the zygote starts: it must not leak.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SECRET_ENV_NAME, SECRET_ENV_VALUE)
        config = SandboxConfig(temp_root=str(temp_root), forbidden_paths=(str(REPO),))
        report = probe(config)
        if not report.supported:
            missing_requirement(f"kernel isolation unavailable: {report.detail}")
        box = Sandbox(config)
        box.start()
        yield box
        box.close()
    assert list(temp_root.iterdir()) == [], "close() must remove everything it created"


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _run_processes(launcher: int, timeout: float = 2.0) -> list[int]:
    """Descendants of the launcher that belong to a run: all but the zygote and the spare
    keeper (with its idle runner) that the zygote keeps ready for the next request. Waits a
    moment for processes that are already dying."""
    deadline = time.monotonic() + timeout
    while True:
        named = {pid for pid in _descendants(launcher) if _comm(pid) == "fmu-spare"}
        # A spare's runner is named fmu-spare too until its first statement renames it.
        spares = [pid for pid in named if _parent(pid) not in named]
        idle = {pid for spare in spares for pid in [spare, *_descendants(spare)]}
        busy = [pid for pid in _descendants(launcher) if pid not in idle]
        assert len(spares) <= 1, spares
        if len(busy) == 1 or time.monotonic() > deadline:
            return busy[1:]  # busy[0] is the zygote
        time.sleep(0.01)


def _leftovers(box: Sandbox) -> list[str]:
    assert box.instance_dir is not None
    return instance_leftovers(box.instance_dir)


def _assert_healthy(box: Sandbox, good_fmu: Path) -> None:
    """After any run: the next good run works and nothing is left behind."""
    result = box.run(SimulationRequest(good_fmu, stop_time=1.0), TIGHT)
    assert result.status is RunStatus.SUCCEEDED, (result.code, result.message, result.log)
    assert result.result is not None
    np.testing.assert_allclose(result.result["y"][-1], 1.0)
    assert _leftovers(box) == []
    pid = box.zygote_pid
    assert pid is not None
    # no keeper, runner or forked grandchild survives a run (only the zygote and its spare)
    assert _run_processes(pid) == []


def _wait_dead(pid: int, timeout: float = 5.0) -> None:
    """Until the process is gone or a zombie (killed, not yet reaped by its parent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = (
                Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
            )
        except (FileNotFoundError, ProcessLookupError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not die")


def _everything_text(result: SandboxResult) -> str:
    data = result.result.tobytes().decode("latin-1") if result.result is not None else ""
    return "\n".join([result.message, result.log, data])


# --- isolation support ---------------------------------------------------------------------


def test_probe_reports_isolation(temp_root: Path) -> None:
    report = probe(SandboxConfig(temp_root=str(temp_root)), refresh=True)
    if not report.supported:
        missing_requirement(f"kernel isolation unavailable: {report.detail}")
    assert report.detail == "isolated"
    assert not any(
        mount == str(REPO) or str(REPO).startswith(mount + "/") for mount in report.mounts
    )
    assert list(temp_root.iterdir()) == []


def test_refuses_to_run_without_isolation_unless_insecure_allowed(
    tmp_path: Path, hostile_fmu: Callable[[str], Path]
) -> None:
    refusing = Sandbox(SandboxConfig(temp_root=str(tmp_path), force_no_isolation=True))
    with pytest.raises(SandboxUnavailableError, match="isolation unavailable"):
        refusing.start()
    result = refusing.run(SimulationRequest(hostile_fmu("good")), TIGHT)
    assert result.status is RunStatus.FAILED
    assert result.code is ErrorCode.SANDBOX_UNAVAILABLE
    refusing.close()

    # Without a private root the runner needs the Python installation by its host path; this
    # test interpreter may live under /root (0700), so keep the uid (capabilities still go).
    config = SandboxConfig(
        temp_root=str(tmp_path),
        force_no_isolation=True,
        allow_insecure=True,
        sandbox_uid=os.geteuid(),
        sandbox_gid=os.getegid(),
    )
    with Sandbox(config) as insecure:
        assert insecure.isolated is False
        result = insecure.run(SimulationRequest(hostile_fmu("good")), TIGHT)
        assert result.status is RunStatus.SUCCEEDED, result.message
        crash = insecure.run(SimulationRequest(hostile_fmu("segfault")), TIGHT)
        assert crash.code is ErrorCode.FMU_CRASHED
        assert _leftovers(insecure) == []
    assert list(tmp_path.iterdir()) == []


def test_zygote_environment_has_no_secrets(sandbox: Sandbox) -> None:
    sandbox.start()
    pid = sandbox.zygote_pid
    assert pid is not None
    for proc in [pid, *_descendants(pid)]:
        environ = Path(f"/proc/{proc}/environ").read_bytes()
        assert SECRET_ENV_VALUE.encode() not in environ
        assert b"DJANGO_SETTINGS_MODULE" not in environ
        maps = Path(f"/proc/{proc}/maps").read_text(encoding="utf-8")
        assert "django" not in maps.lower()


# --- hostile FMUs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "limits", "status", "code", "needle"),
    [
        ("segfault", TIGHT, RunStatus.FAILED, ErrorCode.FMU_CRASHED, "SIGSEGV"),
        ("abort", TIGHT, RunStatus.FAILED, ErrorCode.FMU_ABORTED, "SIGABRT"),
        ("loop", TIGHT, RunStatus.TIMED_OUT, ErrorCode.TIMEOUT, "wall-clock"),
        (
            "loop",
            SandboxLimits(cpu_seconds=1, wall_seconds=10),
            RunStatus.FAILED,
            ErrorCode.CPU_LIMIT,
            "CPU",
        ),
        ("alloc", TIGHT, RunStatus.FAILED, ErrorCode.MEMORY_LIMIT, "memory"),
        ("bigfile", TIGHT, RunStatus.FAILED, ErrorCode.FILE_SIZE_LIMIT, "file"),
    ],
    ids=["segfault", "abort", "infinite-loop", "cpu-limit", "unbounded-alloc", "huge-file"],
)
def test_hostile_fmu_is_contained(
    sandbox: Sandbox,
    hostile_fmu: Callable[[str], Path],
    mode: str,
    limits: SandboxLimits,
    status: RunStatus,
    code: ErrorCode,
    needle: str,
) -> None:
    result = sandbox.run(SimulationRequest(hostile_fmu(mode), stop_time=1.0), limits)
    assert (result.status, result.code) == (status, code), (result.message, result.log)
    assert needle in result.message
    assert result.usage.wall_s <= limits.wall_seconds + 1.0
    assert result.usage.cpu_s <= limits.cpu_seconds + 1.5
    if code is ErrorCode.TIMEOUT:
        assert result.usage.wall_s >= limits.wall_seconds - 0.05
        assert result.usage.cpu_s > 0.5  # the runner's CPU time is accounted even when killed
    if code is ErrorCode.MEMORY_LIMIT:
        assert result.usage.peak_rss_mb * (1 << 20) <= 2 * limits.memory_bytes
    _assert_healthy(sandbox, hostile_fmu("good"))


def test_fork_bomb_is_contained(sandbox: Sandbox, hostile_fmu: Callable[[str], Path]) -> None:
    started = time.monotonic()
    result = sandbox.run(SimulationRequest(hostile_fmu("forkbomb")), TIGHT)
    if sandbox.isolation.cgroup != "none":  # the run's group stops it at its process limit
        assert result.code is ErrorCode.PROCESS_LIMIT, result.message
    else:
        assert result.code in (ErrorCode.TIMEOUT, ErrorCode.CPU_LIMIT), result.message
    assert result.status in (RunStatus.TIMED_OUT, RunStatus.FAILED)
    assert time.monotonic() - started < TIGHT.wall_seconds + 2.0
    _assert_healthy(sandbox, hostile_fmu("good"))


def test_network_is_unreachable(sandbox: Sandbox, hostile_fmu: Callable[[str], Path]) -> None:
    fmu = hostile_fmu("connect")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.3)
        target = f"127.0.0.1:{server.getsockname()[1]}"

        result = sandbox.run(SimulationRequest(fmu, start_values={"target": target}), TIGHT)
        assert (result.status, result.code) == (RunStatus.FAILED, ErrorCode.SIMULATION_ERROR)
        assert "connect failed" in result.log
        with pytest.raises(TimeoutError):
            server.accept()

        # positive control: the same FMU outside the sandbox does reach the server
        plain = fmpy.simulate_fmu(str(fmu), start_values={"target": target})
        assert plain["y"][-1] == 1.0
        connection, _ = server.accept()
        connection.close()
    _assert_healthy(sandbox, hostile_fmu("good"))


def test_files_outside_the_sandbox_are_invisible(
    sandbox: Sandbox, hostile_fmu: Callable[[str], Path], tmp_path: Path
) -> None:
    fmu = hostile_fmu("readfile")
    secret_file = tmp_path / ".env"
    secret_file.write_text(f"SECRET_KEY={SECRET_FILE_VALUE}\n")
    secret_file.chmod(0o644)  # readable by anybody who can reach it: only the sandbox stops it
    targets = [
        str(secret_file),
        str(REPO / "requirements.txt"),
        "/etc/passwd",
        f"/proc/{os.getpid()}/environ",
        str(sandbox.instance_dir),
    ]
    for target in targets:
        result = sandbox.run(SimulationRequest(fmu, start_values={"target": target}), TIGHT)
        assert (result.status, result.code) == (RunStatus.FAILED, ErrorCode.SIMULATION_ERROR)
        assert "open failed" in result.log, (target, result.log)
        assert SECRET_FILE_VALUE not in _everything_text(result)

    # positive control: outside the sandbox the FMU reads the secret
    plain = fmpy.simulate_fmu(str(fmu), start_values={"target": str(secret_file)})
    assert plain["y"][-1] == 1.0
    _assert_healthy(sandbox, hostile_fmu("good"))


def test_environment_holds_no_secrets(
    sandbox: Sandbox, hostile_fmu: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fmu = hostile_fmu("env")
    monkeypatch.setenv(SECRET_ENV_NAME, SECRET_ENV_VALUE)
    result = sandbox.run(SimulationRequest(fmu, start_values={"target": SECRET_ENV_NAME}), TIGHT)
    assert (result.status, result.code) == (RunStatus.FAILED, ErrorCode.SIMULATION_ERROR)
    assert "env: PATH=" in result.log  # the FMU did dump its environment
    assert f"{SECRET_ENV_NAME} not found" in result.log
    assert SECRET_ENV_VALUE not in _everything_text(result)

    plain = fmpy.simulate_fmu(str(fmu), start_values={"target": SECRET_ENV_NAME})
    assert plain["y"][-1] == 1.0  # positive control
    _assert_healthy(sandbox, hostile_fmu("good"))


def test_output_limit(sandbox: Sandbox, hostile_fmu: Callable[[str], Path]) -> None:
    limits = SandboxLimits(wall_seconds=10, max_output_bytes=64 * 1024)
    request = SimulationRequest(hostile_fmu("good"), stop_time=100.0, output_interval=0.01)
    result = sandbox.run(request, limits)
    assert (result.status, result.code) == (RunStatus.FAILED, ErrorCode.OUTPUT_TOO_LARGE)


# --- fidelity --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative",
    [
        "FMUSDK-via-PyFMI/CS2.0/bouncingBall/bouncingBall.fmu",
        "Dymola/2020/0004_Atmos/0004_Atmos.fmu",
    ],
)
def test_real_fmu_matches_plain_fmpy_bit_for_bit(sandbox: Sandbox, relative: str) -> None:
    path = shared_fmu(relative)
    plain = np.asarray(fmpy.simulate_fmu(str(path)))
    for sha256 in (None, sha256_file(path)):  # extract, then cache hit
        result = sandbox.run(SimulationRequest(path, sha256=sha256))
        assert result.status is RunStatus.SUCCEEDED, (result.code, result.message, result.log)
        assert result.result is not None
        assert result.result.dtype == plain.dtype
        assert result.result.tobytes() == plain.tobytes()
        assert result.usage.output_bytes > plain.nbytes
        assert result.usage.peak_rss_mb > 1
        assert 0 < result.usage.wall_s < 30
    assert _leftovers(sandbox) == []


def test_arguments_reach_fmpy(sandbox: Sandbox) -> None:
    path = shared_fmu("FMUSDK-via-PyFMI/CS2.0/bouncingBall/bouncingBall.fmu")
    kwargs: dict[str, Any] = {
        "start_values": {"e": 0.5},
        "output": ["h", "v"],
        "output_interval": 0.01,
        "stop_time": 2.0,
    }
    plain = np.asarray(fmpy.simulate_fmu(str(path), **kwargs))
    result = sandbox.run(SimulationRequest(path, **kwargs))
    assert result.status is RunStatus.SUCCEEDED, result.message
    assert result.result is not None
    assert result.result.dtype.names == ("time", "h", "v")
    assert result.result.tobytes() == plain.tobytes()


def test_input_signals(sandbox: Sandbox, hostile_fmu: Callable[[str], Path]) -> None:
    fmu = hostile_fmu("good")
    columns = {"time": [0.0, 1.0], "u": [10.0, 10.0]}
    result = sandbox.run(SimulationRequest(fmu, input=columns, output_interval=0.25), TIGHT)
    assert result.status is RunStatus.SUCCEEDED, result.message
    signals = np.array([(0.0, 10.0), (1.0, 10.0)], dtype=[("time", "f8"), ("u", "f8")])
    plain = np.asarray(fmpy.simulate_fmu(str(fmu), input=signals, output_interval=0.25))
    assert result.result is not None
    assert result.result.tobytes() == plain.tobytes()
    assert result.result["y"][-1] == pytest.approx(11.0)


def test_never_finishing_overture_fmu_is_stopped(sandbox: Sandbox) -> None:
    path = shared_fmu(
        "Overture/0.1.7/watertankController-Standalone/watertankController-Standalone.fmu"
    )
    limits = SandboxLimits(wall_seconds=3, cpu_seconds=10, memory_bytes=512 << 20)
    result = sandbox.run(SimulationRequest(path), limits)
    assert (result.status, result.code) in (
        (RunStatus.TIMED_OUT, ErrorCode.TIMEOUT),
        (RunStatus.FAILED, ErrorCode.MEMORY_LIMIT),
    ), (result.code, result.message)
    assert result.usage.wall_s <= limits.wall_seconds + 1.0


@pytest.mark.parametrize(
    "relative",
    [
        "negative/win_only/bouncingBall_FMUSDK_cs.fmu",
        "negative/xml_only/pump_mocked.fmu",
        "negative/malformed/MalFormed.fmu",
    ],
)
def test_broken_real_fmus_fail_cleanly(sandbox: Sandbox, relative: str) -> None:
    result = sandbox.run(SimulationRequest(shared_fmu(relative)), TIGHT)
    assert (result.status, result.code) == (RunStatus.FAILED, ErrorCode.SIMULATION_ERROR)
    assert result.message
    assert str(sandbox.instance_dir) not in result.message  # only sandbox paths are visible


# --- archives -------------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def test_unsafe_archives_are_rejected(
    sandbox: Sandbox, tmp_path: Path, hostile_fmu: Callable[[str], Path]
) -> None:
    description = b"<fmiModelDescription/>"
    cases = {
        "traversal": _zip(
            tmp_path / "t.fmu",
            {"modelDescription.xml": description, "resources/../../../escaped.txt": b"x"},
        ),
        "absolute": _zip(
            tmp_path / "a.fmu", {"modelDescription.xml": description, "/resources/x": b"x"}
        ),
        "symlink": _zip(
            tmp_path / "s.fmu", {"modelDescription.xml": description}, symlink="resources/link"
        ),
        "no-description": _zip(tmp_path / "n.fmu", {"resources/x": b"x"}),
        "empty": tmp_path / "e.fmu",
    }
    cases["empty"].write_bytes(b"")
    for name, path in cases.items():
        result = sandbox.run(SimulationRequest(path), TIGHT)
        assert (result.status, result.code) == (RunStatus.FAILED, ErrorCode.INVALID_FMU), name
    assert not (tmp_path.parent / "escaped.txt").exists()
    good = hostile_fmu("good")
    mismatch = sandbox.run(SimulationRequest(good, sha256="0" * 64), TIGHT)
    assert mismatch.code is ErrorCode.INVALID_FMU
    assert sandbox.run(SimulationRequest(good, solver="RK4"), TIGHT).code is (
        ErrorCode.INVALID_REQUEST
    )
    _assert_healthy(sandbox, good)


# --- robustness -------------------------------------------------------------------------------


def test_zygote_death_is_survived(sandbox: Sandbox, hostile_fmu: Callable[[str], Path]) -> None:
    good = hostile_fmu("good")
    for victim in ("launcher", "zygote"):
        sandbox.start()
        launcher = sandbox.zygote_pid
        assert launcher is not None
        pid = launcher if victim == "launcher" else _descendants(launcher)[0]
        os.kill(pid, signal.SIGKILL)
        _wait_dead(pid)
        result = sandbox.run(SimulationRequest(good), TIGHT)
        assert result.status is RunStatus.SUCCEEDED, (victim, result.message)
        assert sandbox.zygote_pid != launcher
    _assert_healthy(sandbox, good)


def test_concurrent_runs(sandbox: Sandbox, hostile_fmu: Callable[[str], Path]) -> None:
    good, loop = hostile_fmu("good"), hostile_fmu("loop")
    results: dict[str, SandboxResult] = {}

    def work(name: str, fmu: Path, limits: SandboxLimits) -> None:
        results[name] = sandbox.run(SimulationRequest(fmu), limits)

    short = SandboxLimits(wall_seconds=1)
    threads = [threading.Thread(target=work, args=("loop", loop, short))]
    threads += [threading.Thread(target=work, args=(f"good{i}", good, TIGHT)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results["loop"].code is ErrorCode.TIMEOUT
    for i in range(4):
        assert results[f"good{i}"].status is RunStatus.SUCCEEDED, results[f"good{i}"].message
    _assert_healthy(sandbox, good)


def test_non_root_worker_uses_a_user_namespace(
    tmp_path: Path, hostile_fmu: Callable[[str], Path]
) -> None:
    """Simulate an unprivileged worker (uid 12345 in a user namespace) and run through it."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        pytest.skip("needs root and util-linux unshare to fake an unprivileged worker")
    if subprocess.run([unshare, "--user", "--map-user=12345", "true"]).returncode != 0:
        missing_requirement("unprivileged user namespaces are unavailable")
    script = textwrap.dedent(
        f"""
        import json, os, sys
        sys.path.insert(0, {str(REPO)!r})
        from fmusandbox import Sandbox, SandboxConfig, SandboxLimits, SimulationRequest
        assert os.geteuid() == 12345
        out = {{}}
        limits = SandboxLimits(wall_seconds=5, memory_bytes=256 << 20)
        with Sandbox(SandboxConfig(temp_root={str(tmp_path / "root")!r})) as box:
            out["isolated"] = box.isolated
            for mode, target in [("good", ""), ("readfile", {str(REPO / "requirements.txt")!r}),
                                 ("segfault", "")]:
                fmu = {str(hostile_fmu("good").parent)!r} + f"/hostile_{{mode}}.fmu"
                r = box.run(SimulationRequest(fmu, start_values={{"target": target}}), limits)
                out[mode] = [str(r.status), str(r.code), r.log]
        # without cgroups: each run in a user namespace of its own (RLIMIT_NPROC per run)
        config = SandboxConfig(temp_root={str(tmp_path / "root2")!r}, cgroups="off")
        with Sandbox(config) as box:
            out["fallback"] = box.isolation.per_run_uid
            fmu = {str(hostile_fmu("good"))!r}
            out["fallback_run"] = str(box.run(SimulationRequest(fmu), limits).status)
        print(json.dumps(out))
        """
    )
    hostile_fmu("readfile")
    hostile_fmu("segfault")
    completed = subprocess.run(
        [unshare, "--user", "--map-user=12345", "--map-group=12345", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert completed.returncode == 0, completed.stderr
    out = json.loads(completed.stdout.strip().splitlines()[-1])
    assert out["isolated"] is True
    assert out["good"][:2] == ["succeeded", "None"]
    assert out["readfile"][:2] == ["failed", "simulation_error"]
    assert "open failed" in out["readfile"][2]
    assert out["segfault"][:2] == ["failed", "fmu_crashed"]
    assert out["fallback"] == "a user namespace per run"
    assert out["fallback_run"] == "succeeded"


# --- several runs of one FMU in one sandbox (run_many) ----------------------------------------


def _switch(fmu: Path, *targets: str, **kwargs: Any) -> list[SimulationRequest]:
    """One request per target for the "switch" FMU (good unless the target names an attack)."""
    return [SimulationRequest(fmu, start_values={"target": t}, **kwargs) for t in targets]


def _busy_runner(launcher: int, cpu_seconds: float = 0.3, timeout: float = 10.0) -> int:
    """Wait until some runner has used ``cpu_seconds`` (i.e. a looping run is under way)."""
    ticks = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in _descendants(launcher):
            if _comm(pid) != "fmu-runner":
                continue
            try:
                fields = (
                    Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
                )
            except OSError:
                continue
            if (int(fields[11]) + int(fields[12])) / ticks >= cpu_seconds:
                return pid
        time.sleep(0.02)
    raise AssertionError("no busy runner")


def test_run_many_gives_the_same_results_as_single_runs(sandbox: Sandbox) -> None:
    path = shared_fmu("FMUSDK-via-PyFMI/CS2.0/bouncingBall/bouncingBall.fmu")
    sha256 = sha256_file(path)
    requests = [
        SimulationRequest(path, sha256=sha256, stop_time=2.0, start_values={"e": e})
        for e in (0.5, 0.6, 0.7, 0.8, 0.9)
    ]
    results = sandbox.run_many(requests)
    assert len(results) == len(requests)
    for request, result in zip(requests, results, strict=True):
        assert result.status is RunStatus.SUCCEEDED, (result.code, result.message, result.log)
        single = sandbox.run(request)
        plain = np.asarray(
            fmpy.simulate_fmu(str(path), stop_time=2.0, start_values=dict(request.start_values))
        )
        assert result.result is not None and single.result is not None
        assert result.result.tobytes() == single.result.tobytes() == plain.tobytes()
        # per-run accounting, measured by the keeper
        assert 0 < result.usage.cpu_s < 5
        assert 0 < result.usage.wall_s < 5
        assert result.usage.peak_rss_mb > 1
        assert result.usage.output_bytes > 0
    assert _run_processes(sandbox.zygote_pid or 0) == []


def test_run_many_crash_in_one_run_keeps_the_others(
    sandbox: Sandbox, hostile_fmu: Callable[[str], Path]
) -> None:
    fmu = hostile_fmu("switch")
    targets = ("", "", "segfault", "", "abort", "exit", "")
    results = sandbox.run_many(_switch(fmu, *targets, stop_time=1.0), TIGHT)
    assert [r.code for r in results] == [
        None, None, ErrorCode.FMU_CRASHED, None, ErrorCode.FMU_ABORTED, ErrorCode.FMU_CRASHED, None
    ]  # fmt: skip
    assert "SIGSEGV" in results[2].message
    assert "exit status 3" in results[5].message
    for index in (0, 1, 3, 6):
        assert results[index].status is RunStatus.SUCCEEDED, results[index].message
        result = results[index].result
        assert result is not None
        assert result["y"][-1] == pytest.approx(1.0)
    # fmpy unloads the FMU after each run, so even runs sharing a process start from fresh
    # library state; the run after a crash gets a fresh process anyway
    for index in (0, 1, 3, 6):
        assert "instance 1 in this process" in results[index].log
    _assert_healthy(sandbox, hostile_fmu("good"))


def test_run_many_kills_a_hanging_run_at_its_own_limits(
    sandbox: Sandbox, hostile_fmu: Callable[[str], Path]
) -> None:
    fmu = hostile_fmu("switch")
    wall = SandboxLimits(wall_seconds=1.0, cpu_seconds=10, memory_bytes=256 << 20)
    started = time.monotonic()
    results = sandbox.run_many(_switch(fmu, "", "loop", "", "loop", ""), wall)
    assert time.monotonic() - started < 2 * wall.wall_seconds + 2.0
    assert [r.code for r in results] == [None, ErrorCode.TIMEOUT, None, ErrorCode.TIMEOUT, None]
    for hung in (results[1], results[3]):
        assert hung.status is RunStatus.TIMED_OUT
        assert wall.wall_seconds - 0.05 <= hung.usage.wall_s <= wall.wall_seconds + 0.5
        # the killed runner's CPU time is still accounted (how much of the second it got
        # depends on the machine's load: half a core was too much to ask on a busy machine)
        assert hung.usage.cpu_s > 0.05
    assert all(results[i].succeeded for i in (0, 2, 4))

    cpu = SandboxLimits(wall_seconds=10, cpu_seconds=1, memory_bytes=256 << 20)
    results = sandbox.run_many(_switch(fmu, "", "loop", ""), cpu)
    assert [r.code for r in results] == [None, ErrorCode.CPU_LIMIT, None], results[1].message
    assert "CPU" in results[1].message
    assert 0.9 <= results[1].usage.cpu_s <= cpu.cpu_seconds + 1.5
    _assert_healthy(sandbox, hostile_fmu("good"))


def test_run_many_hostile_runs_reach_no_network_and_no_files(
    sandbox: Sandbox, hostile_fmu: Callable[[str], Path], tmp_path: Path
) -> None:
    fmu = hostile_fmu("switch")
    other = hostile_fmu("good")  # another model, already in the worker's FMU cache
    assert sandbox.run(SimulationRequest(other), TIGHT).succeeded
    other_cached = next(
        path
        for path in (sandbox.instance_dir / "cache").iterdir()  # type: ignore[operator]
        if path.name == sha256_file(other)
    )
    secret_file = tmp_path / ".env"
    secret_file.write_text(f"SECRET_KEY={SECRET_FILE_VALUE}\n")
    secret_file.chmod(0o644)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.3)
        address = f"127.0.0.1:{server.getsockname()[1]}"
        targets = (
            "",
            f"connect:{address}",
            f"read:{secret_file}",
            f"read:{REPO / 'requirements.txt'}",
            f"read:{other_cached / 'modelDescription.xml'}",
            f"read:/.fmu-cache/{other_cached.name}/modelDescription.xml",
            f"read:/proc/{os.getpid()}/environ",
            "",
        )
        results = sandbox.run_many(_switch(fmu, *targets), TIGHT)
        with pytest.raises(TimeoutError):
            server.accept()
    assert results[0].succeeded and results[-1].succeeded
    assert "connect failed" in results[1].log
    for result in results[1:-1]:
        assert (result.status, result.code) == (RunStatus.FAILED, ErrorCode.SIMULATION_ERROR)
        assert SECRET_FILE_VALUE not in _everything_text(result)
    for result in results[2:-1]:
        assert "open failed" in result.log, result.log
    _assert_healthy(sandbox, hostile_fmu("good"))


def test_run_many_empties_the_scratch_dir_between_runs(
    sandbox: Sandbox, hostile_fmu: Callable[[str], Path]
) -> None:
    results = sandbox.run_many(_switch(hostile_fmu("switch"), "write", "list", "list"), TIGHT)
    assert all(r.succeeded for r in results), [r.message for r in results]
    assert "instance 1 in this process" in results[0].log
    assert "file: scratch.txt" not in results[1].log + results[2].log


def test_run_many_splits_large_requests_and_rejects_mixed_fmus(
    sandbox: Sandbox, hostile_fmu: Callable[[str], Path]
) -> None:
    from fmusandbox.runner import MAX_RUNS_PER_SANDBOX

    fmu = hostile_fmu("switch")
    count = MAX_RUNS_PER_SANDBOX + 3
    results = sandbox.run_many(_switch(fmu, *[""] * count, stop_time=0.1), TIGHT)
    assert len(results) == count and all(r.succeeded for r in results)
    bad = [SimulationRequest(fmu), SimulationRequest(hostile_fmu("good"))]
    with pytest.raises(ValueError, match="one FMU"):
        sandbox.run_many(bad, TIGHT)
    mixed = sandbox.run_many([SimulationRequest(fmu), SimulationRequest(fmu, solver="RK4")], TIGHT)
    assert [r.code for r in mixed] == [None, ErrorCode.INVALID_REQUEST]
    assert sandbox.run_many([], TIGHT) == []


# --- cancelling one run ----------------------------------------------------------------------


def test_cancel_kills_only_that_run(sandbox: Sandbox, hostile_fmu: Callable[[str], Path]) -> None:
    loop = hostile_fmu("loop")
    sandbox.start()
    launcher = sandbox.zygote_pid
    assert launcher is not None
    token = CancelToken()
    results: dict[str, SandboxResult] = {}

    def work(name: str, limits: SandboxLimits, cancel: CancelToken | None) -> None:
        results[name] = sandbox.run(SimulationRequest(loop), limits, cancel=cancel)

    cancelled = threading.Thread(target=work, args=("cancelled", SandboxLimits(), token))
    other = threading.Thread(target=work, args=("other", SandboxLimits(wall_seconds=3), None))
    other.start()
    _busy_runner(launcher)
    cancelled.start()
    time.sleep(0.3)  # both loop now
    cancelled_at = time.monotonic()
    token.cancel()
    cancelled.join(10)
    assert time.monotonic() - cancelled_at < 2.0
    result = results["cancelled"]
    assert (result.status, result.code) == (RunStatus.CANCELLED, ErrorCode.CANCELLED)
    assert sandbox.zygote_pid == launcher  # the sandbox stays warm
    other.join(10)
    assert results["other"].code is ErrorCode.TIMEOUT  # the other run was not touched
    _assert_healthy(sandbox, hostile_fmu("good"))
    assert sandbox.zygote_pid == launcher
    # a token cancelled before the run starts: nothing runs
    started = time.monotonic()
    assert sandbox.run(SimulationRequest(loop), cancel=token).code is ErrorCode.CANCELLED
    assert time.monotonic() - started < 0.5


def test_cancel_during_run_many_keeps_finished_runs(
    sandbox: Sandbox, hostile_fmu: Callable[[str], Path]
) -> None:
    fmu = hostile_fmu("switch")
    sandbox.start()
    launcher = sandbox.zygote_pid
    assert launcher is not None
    token = CancelToken()
    results: list[SandboxResult] = []
    thread = threading.Thread(
        target=lambda: results.extend(
            sandbox.run_many(_switch(fmu, "", "", "loop", "", ""), SandboxLimits(), cancel=token)
        )
    )
    thread.start()
    _busy_runner(launcher)
    token.cancel()
    thread.join(10)
    assert [r.code for r in results] == [None, None] + [ErrorCode.CANCELLED] * 3
    assert results[0].succeeded and results[1].succeeded
    assert results[1].usage.cpu_s > 0 and results[1].usage.peak_rss_mb > 1
    assert sandbox.zygote_pid == launcher
    _assert_healthy(sandbox, hostile_fmu("good"))


def test_a_runner_reported_internal_error_is_never_a_free_platform_failure():
    # FMU code runs in the runner and can write the runner's status report itself: a report
    # claiming "sandbox_error" must not turn into the (uncharged) platform failure code.
    from execution.services.charging import PLATFORM_ERROR_CODES
    from fmusandbox.runner import _RUNNER_CODES

    assert _RUNNER_CODES["sandbox_error"] == ErrorCode.RUNNER_ERROR
    assert all(str(code) not in PLATFORM_ERROR_CODES for code in _RUNNER_CODES.values())
