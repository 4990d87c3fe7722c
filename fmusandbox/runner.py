"""Worker-side half of the FMU sandbox: owns the zygote, the FMU cache and the per-run files.

Nothing here executes FMU code. A request (one run, or several runs of one FMU with
``run_many``) is: extract the FMU into the cache (once per sha256), write each run's request
into a sealed memfd, hand those plus three size-capped, sealed memfds per run (status, result,
log) and one for the keeper's per-run reports to the zygote, wait for the zygote's report
(with our own deadline as a backstop) and classify each run's outcome. Data coming back from
the sandbox is treated as hostile: bounded reads, JSON, and
``numpy.lib.format.read_array(allow_pickle=False)`` only.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import io
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import _zygote as proto
from .cache import FmuCache, FmuCacheError, remove_tree
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

logger = logging.getLogger(__name__)

ZYGOTE_SCRIPT = Path(proto.__file__).resolve()
_STATUS_CAP = 1 << 16
#: Runs per sandbox in run_many (more are split into several sandboxes, one after the other).
MAX_RUNS_PER_SANDBOX = proto.MAX_RUNS_PER_REQUEST
_MSG_MAX = 1 << 16
_ZYGOTE_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    # no BLAS/OpenMP thread pools in the zygote: it forks, and forked threads are gone
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
_RUNNER_CODES = {
    "simulation_error": ErrorCode.SIMULATION_ERROR,
    "memory_limit": ErrorCode.MEMORY_LIMIT,
    "output_too_large": ErrorCode.OUTPUT_TOO_LARGE,
    # Written by the runner, where FMU code runs: never trusted as a platform failure.
    "sandbox_error": ErrorCode.RUNNER_ERROR,
}


class SandboxUnavailableError(RuntimeError):
    """Kernel isolation is missing (and insecure mode is off) or the zygote cannot start."""


def _failure(
    code: ErrorCode, message: str, usage: SandboxUsage | None = None, log: str = ""
) -> SandboxResult:
    status = {
        ErrorCode.TIMEOUT: RunStatus.TIMED_OUT,
        ErrorCode.CANCELLED: RunStatus.CANCELLED,
    }.get(code, RunStatus.FAILED)
    return SandboxResult(status, code, message, None, usage or SandboxUsage(), log)


def _cancelled() -> SandboxResult:
    return _failure(ErrorCode.CANCELLED, "cancelled")


class CancelToken:
    """Cancels sandbox runs from another thread: pass it to :meth:`Sandbox.run` or
    :meth:`Sandbox.run_many`, then call :meth:`cancel`.

    Cancelling SIGKILLs the keeper of each run using the token (PID 1 of the run's PID
    namespace, so its runner and anything the FMU forked die with it); the zygote and other
    runs are untouched. Runs not started yet are not started. Thread-safe; one-shot.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._pidfds: set[int] = set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            for pidfd in self._pidfds:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)

    def _attach(self, pidfd: int) -> None:
        """Track a keeper while it runs (kill it at once if already cancelled)."""
        with self._lock:
            if self._cancelled:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            self._pidfds.add(pidfd)

    def _detach(self, pidfd: int) -> None:
        """Before the pidfd is closed: its number may be reused right after."""
        with self._lock:
            self._pidfds.discard(pidfd)


def _default_temp_root() -> str:
    return os.path.join(tempfile.gettempdir(), f"fmu-sandbox-{os.geteuid()}")


def _prepare_temp_root(path: str) -> Path:
    """Create the temp root privately and refuse a pre-existing one we do not own (/tmp races)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    import stat as stat_mod

    if not stat_mod.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise SandboxUnavailableError(f"unsafe sandbox temp root {path!r} (owner/mode)")
    return Path(path)


_OWNER_LOCK = ".owner"


def _remove_stale_instances(temp_root: Path) -> None:
    """Delete instance dirs (FMU cache, run dirs) of worker processes that are gone.

    A live instance holds an flock on its ``.owner`` file (released by the kernel however the
    process ends), so a killed worker's leftovers are found even when its PID was reused.
    """
    for entry in temp_root.iterdir():
        pid_text, _, token = entry.name.partition("-")
        if not (pid_text.isdigit() and token.startswith("sbx")):
            continue
        try:
            fd = os.open(entry / _OWNER_LOCK, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = -1  # being created, or older than the lock: fall back to the PID
        except OSError:
            continue
        if fd >= 0:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its owner is alive
            finally:
                os.close(fd)
        else:
            try:
                os.kill(int(pid_text), 0)
                continue
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
        remove_tree(entry)


def _memfd(name: str, size: int) -> int:
    """A sparse memfd of exactly ``size`` bytes that nobody can grow: a hard output cap."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, size)
        fcntl.fcntl(
            fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL
        )
    except BaseException:
        os.close(fd)
        raise
    return fd


def _request_memfd(header: dict[str, Any], input_array: np.ndarray | None) -> int:
    fd = os.memfd_create("fmu-request", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        with os.fdopen(os.dup(fd), "wb") as f:
            f.write(json.dumps(header).encode() + b"\n")
            if input_array is not None:
                np.lib.format.write_array(f, input_array, allow_pickle=False)
        seals = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _pread_all(fd: int, size: int) -> bytes:
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, min(size - offset, 1 << 22), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _pread_written(fd: int, size: int) -> bytes:
    """Like ``_pread_all`` for a sparse memfd, but only up to its first hole: the part that
    was ever written (page-rounded). A log memfd is mostly never-written zeros; reading and
    scanning all of it cost ~1 ms per run. Never-written pages read as zeros anyway."""
    try:
        end = os.lseek(fd, 0, os.SEEK_HOLE)
    except OSError:
        end = size
    return _pread_all(fd, min(size, end))


def _clean_text(text: str, limit: int = proto.MAX_MESSAGE_CHARS) -> str:
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else "\ufffd" for ch in text)
    return proto._truncate(text, limit)


class Sandbox:
    """Runs FMUs in isolated, resource-limited processes forked from a warm zygote.

    :meth:`run` simulates one request, :meth:`run_many` several of one FMU in one sandbox;
    both accept a :class:`CancelToken`. The zygote keeps one sandbox built ahead of time, so
    a request only pays for handing its files over and for the runner.

    Thread-safe: concurrent :meth:`run` calls share one zygote, each with its own channel.
    Fork-aware: a child process (e.g. a Celery prefork worker) that inherited an instance
    starts its own zygote instead of talking to the parent's. Prefer :func:`get_sandbox`.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._lock = threading.RLock()
        self._owner_pid = os.getpid()
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctl: socket.socket | None = None
        self._hello: dict[str, Any] = {}
        self._instance_dir: Path | None = None
        self._owner_fd = -1  # flock held on <instance>/.owner while this instance lives
        self._cache: FmuCache | None = None
        self._closed = False

    # -- lifecycle --

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def isolated(self) -> bool:
        """True when runs are fully isolated; False only in explicit insecure mode."""
        self.start()
        return bool(self._hello.get("isolated"))

    @property
    def zygote_pid(self) -> int | None:
        """PID of the zygote's launcher process (killing it kills every sandbox)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def instance_dir(self) -> Path | None:
        return self._instance_dir

    @property
    def isolation(self) -> IsolationReport:
        """What this sandbox's zygote set up (namespaces, cgroup, seccomp); starts it."""
        self.start()
        return _report_from_hello(self._hello)

    @property
    def cgroup_dirs(self) -> dict[str, str]:
        """The directories of this zygote's run groups (empty without cgroups)."""
        self.start()
        return dict(self._hello.get("cgroup_dirs") or {})

    def start(self) -> None:
        """Start the zygote if it is not running (idempotent; restarts a dead one)."""
        with self._lock:
            if self._closed:
                raise SandboxUnavailableError("sandbox is closed")
            if self._owner_pid != os.getpid():
                self._forget_inherited()
            if self._proc is not None and self._proc.poll() is None:
                return
            self._stop_zygote()
            self._start_zygote()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._owner_pid != os.getpid():
                self._forget_inherited()
                return
            self._stop_zygote()
            if self._instance_dir is not None:
                remove_tree(self._instance_dir)
                self._instance_dir = None
                self._cache = None
            if self._owner_fd >= 0:
                os.close(self._owner_fd)
                self._owner_fd = -1

    def _forget_inherited(self) -> None:
        """After fork: drop the parent's zygote without touching it (it is not ours)."""
        if self._ctl is not None:
            self._ctl.close()
        if self._owner_fd >= 0:
            os.close(self._owner_fd)  # the parent's lock stays held through its own fd
        self._owner_fd = -1
        self._ctl = None
        self._proc = None
        self._instance_dir = None
        self._cache = None
        self._owner_pid = os.getpid()

    def _ensure_dirs(self) -> tuple[Path, Path]:
        if self._instance_dir is None:
            temp_root = _prepare_temp_root(self.config.temp_root or _default_temp_root())
            _remove_stale_instances(temp_root)
            name = f"{os.getpid()}-sbx{secrets.token_hex(4)}"
            instance_dir = temp_root / name
            instance_dir.mkdir(mode=0o700)
            self._owner_fd = os.open(
                instance_dir / _OWNER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            fcntl.flock(self._owner_fd, fcntl.LOCK_EX)
            self._instance_dir = instance_dir
        if self._cache is None:
            cache_dir = self.config.cache_dir or str(self._instance_dir / "cache")
            self._cache = FmuCache(
                cache_dir,
                max_entries=self.config.cache_max_entries,
                max_unpacked_bytes=self.config.max_unpacked_bytes,
                max_bytes=self.config.cache_max_bytes,
            )
        state_dir = self._instance_dir / f"zygote-{secrets.token_hex(4)}"
        state_dir.mkdir(mode=0o700)
        mountpoint = state_dir / "root"
        mountpoint.mkdir(mode=0o755)
        return state_dir, mountpoint

    def _start_zygote(self, *, probe_only: bool = False) -> dict[str, Any]:
        state_dir, mountpoint = self._ensure_dirs()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        assert self._instance_dir is not None
        cfg = {
            "ctl_fd": child.fileno(),
            "parent_pid": os.getpid(),
            "uid": self.config.sandbox_uid,
            "gid": self.config.sandbox_gid,
            "allow_insecure": self.config.allow_insecure,
            "state_dir": str(state_dir),
            "mountpoint": str(mountpoint),
            "cache_dir": str(self._cache.root) if self._cache is not None else "",
            "extra_ro_paths": list(self.config.extra_ro_paths),
            "forbidden_paths": [*self.config.forbidden_paths, str(self._instance_dir)],
            "force_no_isolation": self.config.force_no_isolation,
            "probe_only": probe_only,
            "cgroups": self.config.cgroups,
            "cgroup_v2_parent": self.config.cgroup_v2_parent,
            "seccomp": self.config.seccomp,
            "run_uid_base": self.config.run_uid_base,
            "uid_slot_dir": str(self._instance_dir.parent / "uid-slots"),
        }
        cmd = [self.config.python_executable, "-I", "-B", str(ZYGOTE_SCRIPT), json.dumps(cfg)]
        try:
            # exec'd, not forked-and-continued: the zygote shares no memory with this process
            proc = subprocess.Popen(
                cmd,
                env=_ZYGOTE_ENV,
                cwd="/",
                pass_fds=[child.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # terminal Ctrl-C must not kill running sandboxes
            )
        except OSError as exc:
            parent.close()
            raise SandboxUnavailableError(f"cannot start the sandbox zygote: {exc}") from exc
        finally:
            child.close()
        try:
            parent.settimeout(self.config.start_timeout)
            data = parent.recv(_MSG_MAX)
            hello = json.loads(data) if data else {"ok": False, "error": "zygote exited"}
        except (OSError, ValueError) as exc:
            hello = {"ok": False, "error": f"no answer from the sandbox zygote: {exc}"}
        if probe_only or not hello.get("ok"):
            parent.close()
            self._reap(proc)
            remove_tree(state_dir)
            if not probe_only:
                raise SandboxUnavailableError(str(hello.get("error", "zygote failed")))
            return hello
        parent.settimeout(None)
        self._proc, self._ctl, self._hello = proc, parent, hello
        report = _report_from_hello(hello)
        if report.cgroup == "none":
            logger.warning(
                "FMU sandbox without cgroups (%s): limits are per process (rlimits)%s",
                report.cgroup_detail,
                f", {report.per_run_uid}" if report.per_run_uid else "",
            )
        logger.info("FMU sandbox isolation: %s", report.summary())
        if not hello.get("isolated"):
            # No private root: the runner (another uid when we are root) must be able to walk
            # to its work dir by path (fmpy chdirs back to it). Traversable, not listable.
            for path in (self._instance_dir.parent, self._instance_dir, state_dir):
                if path.stat().st_uid == os.geteuid():
                    path.chmod(0o711)
            logger.warning(
                "FMU SANDBOX RUNNING WITHOUT ISOLATION (FMU_SANDBOX_ALLOW_INSECURE): "
                "uploaded FMUs can read files and use the network. Reason: %s",
                hello.get("reason"),
            )
        return hello

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes], timeout: float = 2.0) -> None:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()  # the zygote has PR_SET_PDEATHSIG, so it and every sandbox die too
            proc.wait()

    def _stop_zygote(self) -> None:
        """Close the control socket (the zygote kills its runs and exits) and reap it."""
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        if self._proc is not None:
            self._reap(self._proc)
            self._proc = None
        if self._instance_dir is not None:
            for state_dir in self._instance_dir.glob("zygote-*"):
                remove_tree(state_dir)

    def _kill_zygote(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
            self._stop_zygote()

    # -- runs --

    def run(
        self,
        request: SimulationRequest,
        limits: SandboxLimits | None = None,
        *,
        cancel: CancelToken | None = None,
    ) -> SandboxResult:
        """Simulate one FMU in a fresh sandbox. Never raises for problems caused by the FMU.

        ``cancel``: ``cancel.cancel()`` (from any thread) kills this run's whole process tree
        at once and the result is ``RunStatus.CANCELLED`` / ``ErrorCode.CANCELLED``; the
        zygote and any other run of this sandbox carry on.
        """
        return self.run_many([request], limits, cancel=cancel)[0]

    def run_many(
        self,
        requests: Sequence[SimulationRequest],
        limits: SandboxLimits | None = None,
        *,
        cancel: CancelToken | None = None,
    ) -> list[SandboxResult]:
        """Simulate several requests of ONE FMU for ONE tenant in one sandbox; one result each.

        Use it only for runs that belong to the same tenant (e.g. the runs of one parameter
        sweep): up to ``MAX_RUNS_PER_SANDBOX`` runs share one keeper (one set of namespaces,
        one private root with that one FMU and one scratch tmpfs) and, as long as they succeed,
        one runner process that simulates them one after the other. Sharing is safe because
        everything shared belongs to the same tenant and the same FMU: the runner only ever
        holds the FMU it was built for and the runs' own memfds (each run's fds are installed
        for that run and closed after it), the scratch dir is emptied between runs, and nothing
        of another tenant or of the worker is ever in that process tree. What a run could
        influence is only later runs *of the same sweep* (e.g. through process-global state
        of the FMU): the tenant's own results, never anybody else's. To keep even that
        bounded, any run that does not succeed (crash, limit, error) retires its runner and
        the next run starts in a fresh one.

        Guarantees per run, as for :meth:`run`: its own wall-clock limit (the keeper kills the
        runner at ``limits.wall_seconds`` and the next run continues in a fresh runner), its
        own CPU limit, the memory/file/process limits, results through bounded sealed memfds
        (never pickle), and usage measured by trusted code: wall time, and CPU time and
        memory peak of everything in the run's cgroup during the run (without a cgroup: the
        runner's CPU clock, then its exact ``wait4`` usage, and its peak RSS). A crash in run
        k never loses the results of the runs before it. Runs that never started because the whole
        request was stopped are ``ErrorCode.NOT_RUN`` (safe to retry); with ``cancel`` the
        run in progress and the rest are ``ErrorCode.CANCELLED`` and earlier results are kept.

        All requests must name the same FMU (``fmu_path`` and ``sha256``), else ValueError.
        """
        requests = list(requests)
        if not requests:
            return []
        identities = {(os.fspath(r.fmu_path), r.sha256) for r in requests}
        if len(identities) != 1:
            raise ValueError("run_many runs one FMU: every request needs the same fmu_path/sha256")
        limits = limits or SandboxLimits()
        results: list[SandboxResult | None] = [None] * len(requests)
        try:
            limits.validate()
        except (ValueError, TypeError) as exc:
            return [_failure(ErrorCode.INVALID_REQUEST, str(exc)) for _ in requests]
        pending: list[tuple[int, dict[str, Any], np.ndarray | None]] = []
        for index, request in enumerate(requests):
            try:
                header: dict[str, Any] = {"kwargs": request.fmpy_kwargs()}
                input_array = request.input_array()
                header["has_input"] = input_array is not None
            except (ValueError, TypeError) as exc:
                results[index] = _failure(ErrorCode.INVALID_REQUEST, str(exc))
                continue
            pending.append((index, header, input_array))
        if pending:
            for index, result in self._run_pending(requests[0], pending, limits, cancel):
                results[index] = result
        assert all(result is not None for result in results)
        return results  # type: ignore[return-value]

    def _run_pending(
        self,
        request: SimulationRequest,
        pending: list[tuple[int, dict[str, Any], np.ndarray | None]],
        limits: SandboxLimits,
        cancel: CancelToken | None,
    ) -> list[tuple[int, SandboxResult]]:
        def every(result: SandboxResult) -> list[tuple[int, SandboxResult]]:
            return [(index, result) for index, _, _ in pending]

        try:
            self.start()
        except SandboxUnavailableError as exc:
            return every(_failure(ErrorCode.SANDBOX_UNAVAILABLE, str(exc)))
        except OSError as exc:  # temp root not writable, python missing, ...
            return every(
                _failure(ErrorCode.SANDBOX_UNAVAILABLE, f"cannot start the sandbox: {exc}")
            )
        assert self._cache is not None
        lease = self._cache.lease(request.fmu_path, request.sha256)
        try:
            fmu_dir = lease.__enter__()  # kept from eviction until these runs are over
        except FmuCacheError as exc:
            return every(_failure(ErrorCode.INVALID_FMU, str(exc)))
        except OSError as exc:
            return every(_failure(ErrorCode.SANDBOX_ERROR, f"cannot prepare the FMU: {exc}"))
        out: list[tuple[int, SandboxResult]] = []
        try:
            for start in range(0, len(pending), MAX_RUNS_PER_SANDBOX):
                group = pending[start : start + MAX_RUNS_PER_SANDBOX]
                if cancel is not None and cancel.cancelled:
                    out += [(index, _cancelled()) for index, _, _ in group]
                    continue
                results = self._run_group(fmu_dir, group, limits, cancel)
                out += [
                    (index, result) for (index, _, _), result in zip(group, results, strict=True)
                ]
        finally:
            lease.__exit__(None, None, None)
        return out

    def _run_group(
        self,
        fmu_dir: Path,
        group: list[tuple[int, dict[str, Any], np.ndarray | None]],
        limits: SandboxLimits,
        cancel: CancelToken | None,
    ) -> list[SandboxResult]:
        wire = limits.to_wire()
        count = len(group)
        fds: list[int] = []
        try:
            fds.append(_memfd("fmu-keeper-report", (count + 1) * proto.REPORT_SLOT_BYTES))
            for _, header, input_array in group:
                fds.append(_request_memfd(header, input_array))
                fds.append(_memfd("fmu-status", _STATUS_CAP))
                fds.append(_memfd("fmu-result", wire["max_output_bytes"]))
                fds.append(_memfd("fmu-log", wire["max_log_bytes"]))
            spec = {
                "host_fmu_dir": str(fmu_dir),
                "fmu_key": fmu_dir.name,
                "limits": wire,
                "runs": count,
            }
            done = self._submit_and_wait(spec, fds, limits, count, cancel)
            reports = self._read_reports(fds[0], count)
            cancelled = cancel is not None and cancel.cancelled
            results = []
            first_missing = True
            for k in range(count):
                status_fd, result_fd, log_fd = fds[2 + 4 * k : 5 + 4 * k]
                report = reports[k + 1]
                results.append(
                    self._classify(
                        done,
                        reports[0],
                        report,
                        (status_fd, result_fd, log_fd),
                        limits,
                        cancelled=cancelled,
                        first_missing=first_missing,
                    )
                )
                if report is None:
                    first_missing = False
            return results
        finally:
            for fd in fds:
                os.close(fd)

    def _submit(self, spec: dict[str, Any], fds: list[int]) -> socket.socket:
        payload = json.dumps(spec).encode()
        for attempt in (1, 2):
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                with self._lock:
                    self.start()
                    assert self._ctl is not None
                    socket.send_fds(self._ctl, [payload], [theirs.fileno(), *fds])
                return mine
            except (BrokenPipeError, ConnectionError) as exc:
                mine.close()
                if attempt == 2:
                    raise SandboxUnavailableError(f"sandbox zygote is gone: {exc}") from exc
                logger.warning("FMU sandbox zygote died; restarting it")
                self._kill_zygote()
            finally:
                theirs.close()
        raise AssertionError("unreachable")

    def _submit_and_wait(
        self,
        spec: dict[str, Any],
        fds: list[int],
        limits: SandboxLimits,
        runs: int,
        cancel: CancelToken | None,
    ) -> dict[str, Any]:
        if cancel is not None and cancel.cancelled:
            return {"type": "done", "cancelled": True}
        try:
            sock = self._submit(spec, fds)
        except SandboxUnavailableError as exc:
            return {"type": "done", "error": str(exc)}
        pidfd: int | None = None
        # Backstop for a wedged zygote; normally the keeper and the zygote enforce the limits.
        limit = proto.request_time_limit(runs, limits.wall_seconds)
        deadline = time.monotonic() + limit + self.config.reply_grace_seconds
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                sock.settimeout(remaining)
                try:
                    data, got_fds, _, _ = socket.recv_fds(sock, _MSG_MAX, 2)
                except TimeoutError:
                    break
                except OSError:
                    data, got_fds = b"", []
                for fd in got_fds[1:]:
                    os.close(fd)
                if got_fds and pidfd is None:
                    pidfd = got_fds[0]
                    if cancel is not None:
                        cancel._attach(pidfd)  # kills at once when already cancelled
                elif got_fds:
                    os.close(got_fds[0])
                if not data:
                    return {"type": "done", "error": "the sandbox zygote died during the run"}
                msg: dict[str, Any] = json.loads(data)
                if msg.get("type") == "done":
                    return msg
            # No report in time: kill the keeper (its PID namespace dies with it) and the zygote.
            if pidfd is not None:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            logger.error("FMU sandbox zygote did not report in time; restarting it")
            self._kill_zygote()
            return {"type": "done", "timed_out": True, "wall_s": limit}
        finally:
            sock.close()
            if pidfd is not None:
                if cancel is not None:
                    cancel._detach(pidfd)
                os.close(pidfd)

    @staticmethod
    def _read_reports(fd: int, count: int) -> list[dict[str, Any] | None]:
        """The keeper's header (index 0) and per-run reports (1..count); None when absent."""
        slot = proto.REPORT_SLOT_BYTES
        raw = _pread_all(fd, (count + 1) * slot)
        reports: list[dict[str, Any] | None] = []
        for k in range(count + 1):
            text = raw[k * slot : (k + 1) * slot].split(b"\0", 1)[0]
            try:
                report = json.loads(text) if text else None
            except ValueError:
                report = None
            reports.append(report if isinstance(report, dict) else None)
        return reports

    def _classify(
        self,
        done: dict[str, Any],
        header: dict[str, Any] | None,
        report: dict[str, Any] | None,
        run_fds: tuple[int, int, int],
        limits: SandboxLimits,
        *,
        cancelled: bool,
        first_missing: bool,
    ) -> SandboxResult:
        status_fd, result_fd, log_fd = run_fds
        header = header or {}
        baseline_rss = float(done.get("baseline_rss", 0))
        if report is not None:
            maxrss = float(report.get("maxrss_bytes") or 0)
            if not report.get("final"):  # the keeper died before it could reap the runner
                maxrss = max(maxrss, float(done.get("maxrss_bytes", 0)), baseline_rss)
            group_peak = report.get("group_peak_bytes")
            if isinstance(group_peak, int | float) and group_peak > 0:
                # The warm interpreter's pages, shared with the zygote, plus everything the
                # run's group was charged: its children and memory files included.
                maxrss = max(maxrss, baseline_rss + float(group_peak))
            facts = {
                "cpu_s": float(report.get("cpu_s") or 0.0),
                "maxrss_bytes": maxrss,
                "wall_s": float(report.get("wall_s") or 0.0),
                "baseline_rss": baseline_rss,
            }
        else:
            facts = {}
        usage = SandboxUsage(
            cpu_s=round(facts.get("cpu_s", 0.0), 4),
            peak_rss_mb=round(facts.get("maxrss_bytes", 0.0) / (1 << 20), 2),
            wall_s=round(facts.get("wall_s", 0.0), 4),
        )
        raw_log = _pread_written(log_fd, limits.max_log_bytes)
        log_truncated = len(raw_log) == limits.max_log_bytes and raw_log[-1:] != b"\0"
        log = _clean_text(raw_log.rstrip(b"\0").decode("utf-8", "replace"), 1 << 30)

        def fail(code: ErrorCode, message: str) -> SandboxResult:
            result = _failure(code, _clean_text(message), usage, log)
            result.log_truncated = log_truncated
            return result

        if report is None:
            return self._missing_report(done, header, limits, cancelled, first_missing)
        outcome = report.get("outcome")
        if outcome == "timed_out":
            return fail(
                ErrorCode.TIMEOUT, f"wall-clock limit of {limits.wall_seconds:g} s exceeded"
            )
        if outcome == "cpu_limit":
            cpu_limit = limits.to_wire()["cpu_seconds"]
            return fail(ErrorCode.CPU_LIMIT, f"CPU time limit of {cpu_limit} s exceeded")
        if outcome == "memory_limit":
            return fail(
                ErrorCode.MEMORY_LIMIT,
                f"the run's processes together reached the memory limit of "
                f"{limits.memory_bytes} bytes",
            )
        if outcome == "process_limit":
            return fail(
                ErrorCode.PROCESS_LIMIT,
                f"the run reached its limit of {limits.max_processes} processes and threads",
            )
        code = report.get("code")
        if not isinstance(code, int):
            return fail(ErrorCode.SANDBOX_ERROR, "the sandbox runner ended abnormally")
        status = self._read_status(status_fd)
        if code > proto.KEEPER_SIGNAL_BASE:
            return fail(*self._signal_outcome(code - proto.KEEPER_SIGNAL_BASE, facts, limits))
        if code == proto.RUNNER_OK and status.get("ok") is True:
            try:
                array, size = self._read_result(result_fd, status, limits)
            except ValueError as exc:
                return fail(ErrorCode.SANDBOX_ERROR, f"invalid result from the sandbox: {exc}")
            usage.output_bytes = size
            return SandboxResult(
                RunStatus.SUCCEEDED, None, "", array, usage, log, log_truncated=log_truncated
            )
        if code == proto.RUNNER_REPORTED and status.get("code") in _RUNNER_CODES:
            return fail(_RUNNER_CODES[status["code"]], str(status.get("message", "")))
        return fail(
            ErrorCode.FMU_CRASHED,
            f"the FMU terminated the simulation process (exit status {code})",
        )

    @staticmethod
    def _missing_report(
        done: dict[str, Any],
        header: dict[str, Any],
        limits: SandboxLimits,
        cancelled: bool,
        first_missing: bool,
    ) -> SandboxResult:
        """A run without a keeper report: it never started, or the keeper died during it."""
        if cancelled or done.get("cancelled"):
            return _cancelled()
        if done.get("error"):
            return _failure(ErrorCode.SANDBOX_ERROR, _clean_text(str(done["error"])))
        if header.get("setup_error"):
            return _failure(ErrorCode.SANDBOX_ERROR, _clean_text(str(header["setup_error"])))
        wait_status = int(done.get("wait_status", -1))
        stopped = wait_status >= 0 and os.WIFEXITED(wait_status)
        stopped = stopped and os.WEXITSTATUS(wait_status) == proto.KEEPER_STOPPED
        if done.get("timed_out") and first_missing and not stopped:
            usage = SandboxUsage(wall_s=round(float(done.get("wall_s", 0.0)), 4))
            message = f"wall-clock limit of {limits.wall_seconds:g} s exceeded"
            return _failure(ErrorCode.TIMEOUT, message, usage)
        if done.get("timed_out") or stopped:
            return _failure(
                ErrorCode.NOT_RUN, "not run: the request's overall time limit was reached first"
            )
        if done.get("client_gone"):
            return _failure(ErrorCode.SANDBOX_ERROR, "run abandoned")
        return _failure(ErrorCode.SANDBOX_ERROR, f"sandbox keeper ended abnormally ({wait_status})")

    @staticmethod
    def _signal_outcome(
        sig: int, facts: dict[str, Any], limits: SandboxLimits
    ) -> tuple[ErrorCode, str]:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        cpu = float(facts.get("cpu_s", 0.0))
        cpu_limit = limits.to_wire()["cpu_seconds"]
        growth = float(facts.get("maxrss_bytes", 0)) - float(facts.get("baseline_rss", 0))
        # RLIMIT_AS makes allocations fail; most native code then crashes or aborts. A crash
        # with resident memory close to the limit is reported as what it most likely is.
        near_memory_limit = growth >= 0.75 * limits.memory_bytes
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= cpu_limit - 0.05):
            return ErrorCode.CPU_LIMIT, f"CPU time limit of {cpu_limit} s exceeded"
        if sig == signal.SIGXFSZ:
            return ErrorCode.FILE_SIZE_LIMIT, "the FMU wrote a file larger than allowed"
        if near_memory_limit and sig in (
            signal.SIGSEGV,
            signal.SIGBUS,
            signal.SIGABRT,
            signal.SIGKILL,
        ):
            return (
                ErrorCode.MEMORY_LIMIT,
                f"the FMU ran out of memory (limit {limits.memory_bytes} bytes) and died with "
                f"{name}",
            )
        if sig == signal.SIGABRT:
            return ErrorCode.FMU_ABORTED, "the FMU aborted (SIGABRT)"
        if sig == signal.SIGKILL:
            return ErrorCode.FMU_CRASHED, "the FMU process was killed (SIGKILL)"
        return ErrorCode.FMU_CRASHED, f"the FMU crashed with {name}"

    @staticmethod
    def _read_status(fd: int) -> dict[str, Any]:
        raw = _pread_written(fd, _STATUS_CAP).split(b"\0", 1)[0]
        try:
            status = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return status if isinstance(status, dict) else {}

    @staticmethod
    def _read_result(
        fd: int, status: dict[str, Any], limits: SandboxLimits
    ) -> tuple[np.ndarray, int]:
        size = status.get("result_bytes")
        if not isinstance(size, int) or not 0 < size <= limits.max_output_bytes:
            raise ValueError("bad result size")
        data = _pread_all(fd, size)
        if len(data) != size:
            raise ValueError("short result")
        # .npy only (not np.load, which would also parse zip archives), never pickles
        array = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        names = array.dtype.names
        if array.ndim != 1 or not names or names[0] != "time" or array.dtype.hasobject:
            raise ValueError("result is not a 1-D structured array starting with 'time'")
        return array, size


# --- per-process singleton and probing ---------------------------------------------------------

_singleton: Sandbox | None = None
_singleton_lock = threading.Lock()


def get_sandbox(config: SandboxConfig | None = None) -> Sandbox:
    """The process-wide sandbox (one zygote per worker process), created on first use."""
    global _singleton
    with _singleton_lock:
        if _singleton is None or _singleton._owner_pid != os.getpid() or _singleton._closed:
            _singleton = Sandbox(config)
        return _singleton


def _forget_singleton_after_fork() -> None:
    global _singleton, _singleton_lock
    _singleton_lock = threading.Lock()
    if _singleton is not None:
        _singleton._lock = threading.RLock()
        _singleton._forget_inherited()
        _singleton = None


def _close_singleton_at_exit() -> None:
    if _singleton is not None and _singleton._owner_pid == os.getpid():
        _singleton.close()


def close_sandbox() -> None:
    """Close this process's sandbox, if it has one: the zygote stops, its runs are killed, its
    cgroups and its FMU cache are removed. For worker shutdown hooks (prefork pool processes
    end with ``os._exit``, which skips ``atexit``)."""
    with _singleton_lock:
        _close_singleton_at_exit()


os.register_at_fork(after_in_child=_forget_singleton_after_fork)
atexit.register(_close_singleton_at_exit)

_probe_cache: dict[tuple[Any, ...], IsolationReport] = {}


def _report_from_hello(hello: dict[str, Any]) -> IsolationReport:
    supported = bool(hello.get("isolated"))
    detail = "isolated" if supported else str(hello.get("reason") or hello.get("error") or "?")
    plan = hello.get("plan") or {}
    return IsolationReport(
        supported=supported,
        detail=detail,
        running_as_root=os.geteuid() == 0,
        user_namespace=supported and os.geteuid() != 0,
        mounts=tuple(plan.get("dirs", ())),
        cgroup=str(hello.get("cgroup") or "none"),
        cgroup_detail=str(hello.get("cgroup_detail") or ""),
        seccomp=bool(hello.get("seccomp")),
        seccomp_detail=str(hello.get("seccomp_detail") or ""),
        per_run_uid=str(hello.get("per_run_uid") or ""),
    )


def probe(config: SandboxConfig | None = None, *, refresh: bool = False) -> IsolationReport:
    """Check (by actually building one sandbox root) whether isolation works here. Cached."""
    config = config or SandboxConfig()
    key = (
        config.python_executable,
        config.temp_root,
        config.force_no_isolation,
        config.cgroups,
        config.seccomp,
    )
    if not refresh and key in _probe_cache:
        return _probe_cache[key]
    sandbox = Sandbox(config)
    try:
        hello = sandbox._start_zygote(probe_only=True)
    except SandboxUnavailableError as exc:
        hello = {"ok": False, "isolated": False, "error": str(exc)}
    finally:
        sandbox.close()
    report = _report_from_hello(hello)
    _probe_cache[key] = report
    return report


def ensure_supported(config: SandboxConfig | None = None) -> IsolationReport:
    """Raise :class:`SandboxUnavailableError` unless isolation works or insecure mode is on."""
    config = config or SandboxConfig()
    report = probe(config)
    if not report.supported and not config.allow_insecure:
        raise SandboxUnavailableError(f"FMU sandbox isolation unavailable: {report.detail}")
    return report


__all__ = [
    "CancelToken",
    "Sandbox",
    "SandboxUnavailableError",
    "close_sandbox",
    "ensure_supported",
    "get_sandbox",
    "probe",
]
