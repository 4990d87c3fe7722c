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

import fmpy
import numpy as np
import pytest

from execution.sandbox import (
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
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
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


def _leftovers(box: Sandbox) -> list[str]:
    """Files/dirs under the instance dir other than the FMU cache and the empty mountpoint."""
    assert box.instance_dir is not None
    extra = []
    for path in box.instance_dir.rglob("*"):
        rel = path.relative_to(box.instance_dir)
        if rel.parts[0] == "cache":
            continue
        if rel.parts[0].startswith("zygote-") and len(rel.parts) == 1:
            continue
        if len(rel.parts) == 2 and rel.parts[1] == "root" and not any(path.iterdir()):
            continue
        extra.append(str(rel))
    return extra


def _assert_healthy(box: Sandbox, good_fmu: Path) -> None:
    """After any run: the next good run works and nothing is left behind."""
    result = box.run(SimulationRequest(good_fmu, stop_time=1.0), TIGHT)
    assert result.status is RunStatus.SUCCEEDED, (result.code, result.message, result.log)
    assert result.result is not None
    np.testing.assert_allclose(result.result["y"][-1], 1.0)
    assert _leftovers(box) == []
    pid = box.zygote_pid
    assert pid is not None
    # launcher + zygote only: no keeper, runner or forked grandchild survives a run
    assert len(_descendants(pid)) == 1


def _wait_dead(pid: int, timeout: float = 5.0) -> None:
    """Until the process is gone or a zombie (killed, not yet reaped by its parent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
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
        maps = Path(f"/proc/{proc}/maps").read_text()
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
    kwargs = {
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
        from execution.sandbox import Sandbox, SandboxConfig, SandboxLimits, SimulationRequest
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
