"""The sandbox's disk and cgroups: the FMU cache is bounded in bytes, and what a worker leaves
is removed when it stops cleanly, or by the next start after it was killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from fmusandbox import FmuCache, FmuCacheError, sha256_file

from .conftest import REPO

MiB = 1 << 20


def _fmu(path: Path, payload: int, seed: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("modelDescription.xml", f"<fmiModelDescription n='{seed}'/>")
        archive.writestr("resources/blob.bin", os.urandom(payload))
    return path


def test_the_cache_is_bounded_in_bytes_least_recently_used_first(tmp_path: Path) -> None:
    cache = FmuCache(
        tmp_path / "cache", max_entries=64, max_unpacked_bytes=8 * MiB, max_bytes=5 * MiB
    )
    fmus = [_fmu(tmp_path / f"{i}.fmu", 2 * MiB, i) for i in range(4)]
    shas = [sha256_file(f) for f in fmus]

    cache.get(fmus[0], shas[0])
    cache.get(fmus[1], shas[1])
    time.sleep(0.01)
    cache.get(fmus[0], shas[0])  # a hit: 0 is now more recent than 1
    cache.get(fmus[2], shas[2])  # 6 MiB > 5 MiB: the least recently used (1) goes

    kept = {p.name for p in (tmp_path / "cache").iterdir()}
    assert kept == {shas[0], shas[2]}
    assert cache.total_bytes <= 5 * MiB

    with cache.lease(fmus[0], shas[0]) as in_use:  # in use: never evicted, the others are
        time.sleep(0.01)
        cache.get(fmus[3], shas[3])
        assert in_use.is_dir()
    assert {p.name for p in (tmp_path / "cache").iterdir()} == {shas[0], shas[3]}

    # one FMU larger than the whole cache may hold is refused, not extracted
    big = _fmu(tmp_path / "big.fmu", 6 * MiB, 99)
    with pytest.raises(FmuCacheError, match="unpacks to more than"):
        cache.get(big)


_WORKER = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, {repo!r})
    from fmusandbox import SandboxConfig, SandboxLimits, SimulationRequest, get_sandbox
    from fmusandbox import close_sandbox
    box = get_sandbox(SandboxConfig(temp_root={root!r}))
    result = box.run(SimulationRequest({fmu!r}), SandboxLimits(wall_seconds=5))
    print(json.dumps({{"ok": result.succeeded, "cgroups": box.cgroup_dirs,
                      "instance": str(box.instance_dir)}}), flush=True)
    if sys.argv[1] == "clean":
        close_sandbox()  # what the Celery worker_process_shutdown hook calls
        os._exit(0)      # as a prefork pool process ends: no atexit
    sys.stdin.read()     # wait to be killed
    """
)


def _start_worker(root: Path, fmu: Path, how: str) -> tuple[subprocess.Popen[str], dict]:
    script = _WORKER.format(repo=str(REPO), root=str(root), fmu=str(fmu))
    process = subprocess.Popen(
        [sys.executable, "-c", script, how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd="/",
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    info = json.loads(line)
    assert info["ok"], line
    return process, info


def test_a_clean_shutdown_removes_the_cache_and_cgroups(
    tmp_path: Path, hostile_fmu: Callable[[str], Path]
) -> None:
    root = tmp_path / "root"
    process, info = _start_worker(root, hostile_fmu("good"), "clean")
    assert process.wait(30) == 0
    assert not Path(info["instance"]).exists()
    assert [p.name for p in root.iterdir()] in ([], ["uid-slots"])
    for directory in info["cgroups"].values():
        assert not os.path.exists(directory)


def test_a_restart_removes_what_a_killed_worker_left(
    tmp_path: Path, hostile_fmu: Callable[[str], Path]
) -> None:
    root = tmp_path / "root"
    process, info = _start_worker(root, hostile_fmu("good"), "kill")
    launcher = [
        int(pid)
        for pid in Path(f"/proc/{process.pid}/task/{process.pid}/children")
        .read_text(encoding="utf-8")
        .split()
    ]
    process.kill()  # the worker dies at once: its zygote follows (PDEATHSIG), nothing cleans up
    process.wait(30)
    for pid in launcher:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert Path(info["instance"], "cache").is_dir()  # left behind
    left_cgroups = [d for d in info["cgroups"].values() if os.path.exists(d)]
    assert left_cgroups or not info["cgroups"]

    again, info2 = _start_worker(root, hostile_fmu("good"), "clean")
    assert again.wait(30) == 0
    assert not Path(info["instance"]).exists()
    for directory in left_cgroups:
        assert not os.path.exists(directory), directory
    assert info2["instance"] != info["instance"]


def test_worker_shutdown_signals_close_the_sandbox() -> None:
    from celery import signals

    from execution.apps import close_sandbox, log_isolation

    assert close_sandbox in [r() for _, r in signals.worker_process_shutdown.receivers]
    assert close_sandbox in [r() for _, r in signals.worker_shutdown.receivers]
    assert log_isolation in [r() for _, r in signals.worker_ready.receivers]
