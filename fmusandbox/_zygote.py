"""Zygote, keeper and runner processes of the FMU sandbox.

This file is executed as a standalone script (``python -I -B _zygote.py CONFIG``) by
:class:`fmusandbox.runner.Sandbox`. It must stay importable without the project on
``sys.path`` and must never import Django: the whole point of the zygote is to be a process
whose memory holds no secrets (SECRET_KEY, database credentials, other tenants' data), so that
the processes forked from it to run untrusted FMUs inherit nothing worth stealing.

Process tree (isolated mode)::

    Django/Celery worker            (holds secrets; never forks FMU code)
     └─ Z0  launcher                (exec'd with a minimal env; new PID ns [+ user ns if not root])
         └─ Z  zygote               (PID 1 of that ns; fmpy/numpy imported once; no tenant data)
             └─ K  keeper           (per request: PID 1 of a fresh PID ns, new mount/net/IPC/UTS
                 │                   ns, a minimal tmpfs root it pivots into; trusted. Forked
                 │                   *before* its request arrives: a "spare" waits, ready-built)
                 └─ R  runner       (drops to an unprivileged uid, rlimits, seccomp filter, loads
                                     the FMU; runs the request's simulations one after the
                                     other, see below)

Each keeper gets a cgroup of its own from the zygote (``_cgroup.py``), created with the spare;
the keeper moves its runner into it before the runner gets any run, so the memory, process and
CPU limits and the usage of a run cover every process and memory file the FMU creates, and
everything in it is killed after each run (the zygote removes the group when the keeper is
reaped). Without cgroups a run gets a uid (root) or user namespace of its own instead, so that
RLIMIT_NPROC is not shared between runs. The seccomp filter (``_seccomp.py``) is generated
once here and installed by each runner after it dropped its privileges.

One request to the zygote is one FMU and one or more simulations of it (``Sandbox.run_many``).
The keeper hands the runs to its runner one at a time over a socket and is the only judge of
each run: it measures the run's wall and CPU time itself (the runner's CPU clock, then its
``wait4`` usage), kills the runner at the run's wall or CPU limit, and starts a fresh runner for
the next run after any run that did not succeed (crash, limit, error), so a failure never
leaks into the next run and never loses the reports of earlier runs. Its per-run reports go
into a "keeper report" memfd that the runner never sees.

The zygote receives only run metadata (extracted-FMU directory, limits) on the control socket.
Tenant data (start values, inputs) travels in sealed memfds straight from the worker to the
runner; results, status and log come back through size-capped, sealed memfds created by the
worker, so nothing the runner produces is ever unpickled or read without a bound.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import gc
import importlib
import importlib.util
import io
import json
import math
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:  # at run time the helpers are loaded by _sibling (this file may be a script)
    from fmusandbox._cgroup import RunGroup


def _sibling(name: str) -> Any:
    """A helper module of this package, also when this file runs as a script (no sys.path)."""
    if __package__:
        return importlib.import_module(f"{__package__}.{name}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"fmusandbox_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_cgroup = _sibling("_cgroup")
_seccomp = _sibling("_seccomp")

# --- protocol shared with runner.py -------------------------------------------------------

#: Keeper exit codes (trusted: the keeper is our own code running with privileges).
KEEPER_OK = 0
KEEPER_STOPPED = 3  # stopped early (zygote deadline): runs without a report were not run
KEEPER_SETUP_FAILED = 200  # isolation could not be set up (message in the report header)
#: Per-run codes in the keeper report: runner exit/report codes below 64, 64 + n for signal n.
KEEPER_SIGNAL_BASE = 64  # 64 + n: the runner was killed by signal n
#: Runner exit codes (untrusted: FMU code runs in the runner and may call exit()).
RUNNER_OK = 0
RUNNER_REPORTED = 1  # a failure was reported in the status memfd

#: fds of a run inside the runner
FD_REQUEST, FD_STATUS, FD_RESULT, FD_LOG = 3, 4, 5, 6
FD_FMU_DIR = 7  # insecure mode only: the FMU dir, reached as /proc/self/fd/7 after setuid
FD_CHANNEL = 9  # the runner's socket to its keeper
FDS_PER_RUN = 4

#: The keeper report memfd: slot 0 is the keeper's header, slot k + 1 the report of run k.
REPORT_SLOT_BYTES = 1024
#: Runs per request. SCM_RIGHTS carries at most 253 fds: 4 per run + socket + report.
MAX_RUNS_PER_REQUEST = 48

SANDBOX_FMU_DIR = "/sandbox/fmu"
SANDBOX_WORK_DIR = "/sandbox/work"
#: Where a spare keeper sees the worker's FMU cache until its request names the one FMU it
#: needs; unmounted before any runner exists (see prepare_isolation).
KEEPER_CACHE_DIR = "/.fmu-cache"
MAX_MESSAGE_CHARS = 4000
CONTROL_MSG_MAX = 1 << 16
FMU_KEY = re.compile(r"^[0-9a-f]{64}$")

# --- Linux constants -----------------------------------------------------------------------

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NAME = 15
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def _os_error(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def _b(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        raise _os_error(f"unshare({flags:#x})")


def setns(fd: int, nstype: int) -> None:
    if _libc.setns(fd, nstype) != 0:
        raise _os_error("setns")


def mount(src: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    if _libc.mount(_b(src), _b(target), _b(fstype), flags, data.encode() or None) != 0:
        raise _os_error(f"mount {src or fstype} on {target}")


def prctl(option: int, arg2: int = 0) -> None:
    if _libc.prctl(option, arg2, 0, 0, 0) != 0:
        raise _os_error(f"prctl({option})")


def pivot_root(new_root: str, put_old: str) -> None:
    if _SYS_PIVOT_ROOT is None:
        raise OSError(errno.ENOSYS, f"pivot_root: unsupported architecture {platform.machine()}")
    if _libc.syscall(_SYS_PIVOT_ROOT, _b(new_root), _b(put_old)) != 0:
        raise _os_error("pivot_root")


def _write_file(path: str, data: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def _rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _vm_bytes() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " ...[truncated]"


# --- mount plan: what the minimal root contains --------------------------------------------

_ST_TO_MS = (
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME),
    (os.ST_NODIRATIME, MS_NODIRATIME),
    (getattr(os, "ST_RELATIME", 4096), MS_RELATIME),
)


def _locked_flags(path: str) -> int:
    """Mount flags of the source that a read-only remount must keep (locked in a user ns)."""
    f_flag = os.statvfs(path).f_flag
    return sum(ms for st, ms in _ST_TO_MS if f_flag & st)


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def build_mount_plan(extra_ro_paths: list[str], forbidden_paths: list[str]) -> dict[str, Any]:
    """Compute the read-only binds needed by the already-loaded interpreter and libraries.

    Only directories that hold code (system library dirs, the Python installation, the venv
    and the directories of every file currently mapped into this process) are exposed.
    """
    candidates: set[str] = set()
    for p in (sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix):
        candidates.add(os.path.abspath(p))
    for p in ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.isdir(p) and not os.path.islink(p):
            candidates.add(p)
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].startswith("/"):
                path = parts[5].strip()
                if os.path.isfile(path):
                    candidates.add(os.path.dirname(os.path.realpath(path)))
    for p in sys.path:
        if p and os.path.exists(p):
            candidates.add(os.path.abspath(p if os.path.isdir(p) else os.path.dirname(p)))
    candidates.update(os.path.abspath(p) for p in extra_ro_paths if os.path.exists(p))

    dirs: list[str] = []
    for path in sorted(candidates, key=lambda p: (p.count("/"), p)):
        if any(_under(path, kept) for kept in dirs):
            continue
        if path in (
            "/",
            "/etc",
            "/home",
            "/root",
            "/proc",
            "/sys",
            "/dev",
            "/tmp",  # noqa: S108 - a host path we refuse to expose, not a temp file
            "/var",
        ) or _under(path, "/sandbox"):
            raise RuntimeError(f"refusing to expose {path!r} inside the sandbox")
        for forbidden in forbidden_paths:
            if _under(os.path.abspath(forbidden), path):
                raise RuntimeError(f"sandbox bind {path!r} would expose forbidden {forbidden!r}")
        dirs.append(path)

    symlinks = []
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(top):
            target = os.readlink(top)
            if target.startswith("/"):  # keep links relative so they resolve inside the new root
                target = os.path.relpath(target, "/")
            symlinks.append((top, target))
    files = [p for p in ("/etc/ld.so.cache",) if os.path.isfile(p)]
    return {"dirs": dirs, "files": files, "symlinks": symlinks}


# --- isolation set-up (runs in the keeper) ---------------------------------------------------


def _bind(root: str, src: str, *, is_dir: bool, readonly: bool, extra: int) -> None:
    dst = root + src
    if is_dir:
        os.makedirs(dst, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
        os.close(os.open(dst, os.O_WRONLY | os.O_CREAT, 0o644))
    mount(src, dst, None, MS_BIND)
    flags = MS_BIND | MS_REMOUNT | extra | _locked_flags(src) | (MS_RDONLY if readonly else 0)
    mount(None, dst, None, flags)


def enter_run_user_namespace() -> None:
    """A user namespace of this run's own (unprivileged worker without cgroups).

    Since Linux 5.14 RLIMIT_NPROC is counted per user namespace and uid, so the runs of a
    worker no longer share one process budget although they all run as the worker's uid.
    """
    uid, gid = os.geteuid(), os.getegid()
    unshare(CLONE_NEWUSER)
    _write_file("/proc/self/setgroups", "deny")
    _write_file("/proc/self/uid_map", f"{uid} {uid} 1")
    _write_file("/proc/self/gid_map", f"{gid} {gid} 1")


def prepare_isolation(
    plan: dict[str, Any], mountpoint: str, cache_dir: str, *, own_userns: bool = False
) -> None:
    """Private mount/net/IPC/UTS namespaces and a minimal read-only root (spare keeper only).

    Everything that does not depend on the request is done here, before the request exists.
    The worker's FMU cache is bound at KEEPER_CACHE_DIR (read-only) so that, once pivoted, the
    keeper can still bind the one FMU its request names; finish_isolation() unmounts it before
    the runner is forked, so no FMU code ever sees the other cached FMUs.
    """
    if own_userns:
        enter_run_user_namespace()
    unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount may propagate to the host
    root = mountpoint
    mount("fmu-sandbox", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
    for link, target in plan["symlinks"]:
        os.symlink(target, root + link)
    for path in plan["dirs"]:
        _bind(root, path, is_dir=True, readonly=True, extra=MS_NOSUID | MS_NODEV)
    for path in plan["files"]:
        _bind(root, path, is_dir=False, readonly=True, extra=MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for dev in ("null", "zero", "full", "random", "urandom"):
        if os.path.exists("/dev/" + dev):
            _bind(root, "/dev/" + dev, is_dir=False, readonly=False, extra=MS_NOSUID | MS_NOEXEC)
    os.makedirs(root + SANDBOX_FMU_DIR, 0o755)
    os.makedirs(root + SANDBOX_WORK_DIR, 0o700)
    os.mkdir(root + KEEPER_CACHE_DIR, 0o700)
    mount(cache_dir, root + KEEPER_CACHE_DIR, None, MS_BIND)
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
    mount(None, root + KEEPER_CACHE_DIR, None, flags | _locked_flags(cache_dir))
    sandbox_tmp = root + "/tmp"  # noqa: S108 - /tmp inside the new root, points at the tmpfs
    if not os.path.lexists(sandbox_tmp):
        os.symlink(SANDBOX_WORK_DIR.lstrip("/"), sandbox_tmp)
    os.mkdir(root + "/.oldroot", 0o700)
    pivot_root(root, root + "/.oldroot")
    os.chdir("/")
    if _libc.umount2(b"/.oldroot", MNT_DETACH) != 0:
        raise _os_error("umount old root")
    os.rmdir("/.oldroot")
    mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    if _libc.sethostname(b"fmu-sandbox", 11) != 0:
        raise _os_error("sethostname")


def finish_isolation(fmu_key: str | None, *, uid: int, gid: int, scratch_bytes: int) -> None:
    """The request's part: its FMU (read-only) and a fresh size-capped scratch tmpfs."""
    if fmu_key is not None:
        if not FMU_KEY.match(fmu_key):
            raise ValueError("bad FMU key")
        source = f"{KEEPER_CACHE_DIR}/{fmu_key}"
        mount(source, SANDBOX_FMU_DIR, None, MS_BIND)
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
        mount(None, SANDBOX_FMU_DIR, None, flags | _locked_flags(SANDBOX_FMU_DIR))
    if _libc.umount2(KEEPER_CACHE_DIR.encode(), MNT_DETACH) != 0:
        raise _os_error("umount FMU cache")
    # The scratch dir is a size-capped tmpfs that vanishes with the mount namespace, so nothing
    # is left on disk even if everything is SIGKILLed.
    nr_inodes = max(64, min(100_000, scratch_bytes // 4096))
    mount(
        "fmu-work",
        SANDBOX_WORK_DIR,
        "tmpfs",
        MS_NOSUID | MS_NODEV | MS_NOEXEC,
        f"size={scratch_bytes},nr_inodes={nr_inodes},mode=0700,uid={uid},gid={gid}",
    )


# --- the runner (untrusted FMU code runs here) ----------------------------------------------


class _CappedWriter(io.TextIOBase):
    """sys.stdout/sys.stderr replacement: writes to the log memfd, never more than the cap."""

    def __init__(self, fd: int, cap: int) -> None:
        self._fd = fd
        self._left = cap

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if self._left > 0:
            data = s.encode("utf-8", "replace")[: self._left]
            try:
                self._left -= os.write(self._fd, data)
            except OSError:
                self._left = 0
        return len(s)

    def flush(self) -> None:
        pass


def _drop_privileges(uid: int, gid: int) -> None:
    """Lose every capability; as real root also switch to the unprivileged uid/gid."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]

    for cap in range(64):  # bounding set first: it needs CAP_SETPCAP, which we are about to lose
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == errno.EINVAL:
            break  # past the last capability this kernel knows
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if os.geteuid() == 0 and uid != 0:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    # In a user namespace (worker not root) we keep our uid, so clear the capability sets
    # explicitly; for root this is a no-op after setresuid.
    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise _os_error("capset")
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_DUMPABLE, 0)


def _report(status: dict[str, Any], cap: int) -> None:
    data = _json_bytes(status)[:cap]
    with contextlib.suppress(OSError):
        os.pwrite(FD_STATUS, data, 0)


def _set_name(name: bytes) -> None:
    """The process name (comm) shown by ps; tells spare keepers from busy ones."""
    buffer = ctypes.create_string_buffer(name[:15])
    _libc.prctl(PR_SET_NAME, ctypes.addressof(buffer), 0, 0, 0)


def _place_fds(targets: dict[int, int]) -> None:
    """Move each fd in ``targets.values()`` to its key (sources may sit on target numbers)."""
    moved = {t: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, FD_CHANNEL + 1) for t, fd in targets.items()}
    for fd in set(targets.values()) - set(targets):
        os.close(fd)
    for target, fd in moved.items():
        os.dup2(fd, target, inheritable=True)
        os.close(fd)


def _close_fds_except(keep: set[int]) -> None:
    """Close every fd from 3 up, except ``keep``."""
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 16)


def _clear_work_dir() -> None:
    """Empty the scratch dir (the cwd) between runs, so every run starts from the same state."""
    for entry in os.scandir("."):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.name, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.name)


def _reap_children() -> None:
    """Collect children the FMU left (killed by the keeper): zombies still count as pids."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _apply_run_limits(config: dict[str, Any]) -> None:
    """rlimits, scratch dir and environment of a runner, from its first run message.

    Called after the privileges are gone: an unprivileged process can still lower its limits.
    RLIMIT_AS stays as a per-process limit also with a cgroup (which limits the whole run);
    RLIMIT_NPROC only without one: the kernel counts it per uid (and user namespace), which
    the run's group makes unnecessary.
    """
    limits = config["limits"]
    rlimits = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_MEMLOCK, 0),
        (resource.RLIMIT_FSIZE, int(limits["fsize_bytes"])),
        (resource.RLIMIT_NOFILE, int(limits["max_open_files"])),
        (resource.RLIMIT_AS, int(config["vm_baseline"]) + int(limits["memory_bytes"])),
    ]
    if config.get("limit_nproc", True):
        rlimits.append((resource.RLIMIT_NPROC, int(limits["max_processes"])))
    for which, value in rlimits:
        resource.setrlimit(which, (value, value))
    # Soft limit -> SIGXCPU (reported as cpu_limit); the hard limit is the SIGKILL backstop.
    # For one run the budget is the run's CPU limit; for several, the keeper checks each run's
    # share itself and retires the runner before a run could reach the budget.
    budget = int(config["cpu_budget"])
    resource.setrlimit(resource.RLIMIT_CPU, (budget, budget + 1))
    os.chdir(config["work_dir"])
    os.environ.clear()
    os.environ.update(
        {
            "HOME": config["env_work_dir"],
            "TMPDIR": config["env_work_dir"],
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
        }
    )


def _runner_main(
    channel: int, fmu_fd: int, uid: int, gid: int, seccomp_bpf: bytes | None
) -> NoReturn:
    """Simulate the runs the keeper sends, one at a time; exit after any run that failed.

    May be forked before its request exists (inside a spare keeper): it gives up its
    privileges at once, then waits. Each run message carries the run's configuration (limits,
    applied with the first one) and four fds (request, status, result, log), installed at
    FD_REQUEST..FD_LOG for that run only; the runner answers ``{"code": ...}`` when done.
    Nothing it says is trusted: the keeper measures time itself and the worker parses the
    status and result memfds defensively. The seccomp filter is installed before the first
    run arrives and applies to everything the FMU starts.
    """
    keep = {FD_CHANNEL}
    setup_error = ""
    try:
        _set_name(b"fmu-runner")
        targets = {FD_CHANNEL: channel}
        if fmu_fd >= 0:
            targets[FD_FMU_DIR] = fmu_fd
            keep.add(FD_FMU_DIR)
        _place_fds(targets)
        _close_fds_except(keep)
        os.setsid()
        for sig in (signal.SIGUSR1, signal.SIGINT, signal.SIGTERM, signal.SIGXFSZ, signal.SIGXCPU):
            signal.signal(sig, signal.SIG_DFL)  # Python ignores SIGXFSZ; we want the signal
        _drop_privileges(uid, gid)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if seccomp_bpf:
            _seccomp.install(seccomp_bpf)
        null = os.open("/dev/null", os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.close(null)
    except BaseException as exc:
        setup_error = _truncate(f"sandbox runner failed: {type(exc).__name__}: {exc}")

    code = RUNNER_REPORTED
    try:
        chan = socket.socket(fileno=FD_CHANNEL)
        config: dict[str, Any] | None = None
        while True:
            data, fds, _, _ = socket.recv_fds(chan, CONTROL_MSG_MAX, FDS_PER_RUN)
            if not data:
                os._exit(RUNNER_OK)  # no more runs
            if len(fds) != FDS_PER_RUN:
                raise RuntimeError("bad run message from the keeper")
            _place_fds(dict(zip(range(FD_REQUEST, FD_LOG + 1), fds, strict=True)))
            if setup_error:
                _report({"ok": False, "code": "sandbox_error", "message": setup_error}, 1 << 16)
                os._exit(RUNNER_REPORTED)
            if config is None:
                config = json.loads(data)
                _apply_run_limits(config)
            _reap_children()
            _clear_work_dir()  # every run starts with an empty scratch dir (also after a crash)
            os.dup2(FD_LOG, 1)
            os.dup2(FD_LOG, 2)
            sys.stdout = sys.stderr = _CappedWriter(1, int(config["limits"]["max_log_bytes"]))
            try:
                code = _simulate(config)
            except MemoryError:
                _report({"ok": False, "code": "memory_limit", "message": "out of memory"}, 1 << 16)
                code = RUNNER_REPORTED
            null = os.open("/dev/null", os.O_RDWR)
            for target in (1, 2):
                os.dup2(null, target)
            os.close(null)
            _close_fds_except(keep)  # the run's fds and anything the FMU left open
            chan.send(_json_bytes({"code": code}))
            if code != RUNNER_OK:
                os._exit(code)  # a failed run may leave the FMU loaded: the next gets a new runner
    except MemoryError:
        _report({"ok": False, "code": "memory_limit", "message": "out of memory"}, 1 << 16)
    except BaseException as exc:
        message = _truncate(f"sandbox runner failed: {type(exc).__name__}: {exc}")
        _report({"ok": False, "code": "sandbox_error", "message": message}, 1 << 16)
    os._exit(RUNNER_REPORTED)


def fork_runner(
    fmu_fd: int, uid: int, gid: int, seccomp_bpf: bytes | None, group: Any = None
) -> _Runner:
    """Fork a runner of this keeper; it waits on its channel for runs.

    ``group`` (the run's cgroup): the runner is moved into it before it gets any run; if that
    fails the runner is killed and the error raised."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            mine.close()
            _runner_main(theirs.fileno(), fmu_fd, uid, gid, seccomp_bpf)
        finally:
            os._exit(RUNNER_REPORTED)
    theirs.close()
    runner = _Runner(pid, mine)
    if group is not None:
        try:
            group.move(pid)
        except OSError:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            os.close(runner.pidfd)
            mine.close()
            raise
    return runner


#: The parsed model description of this runner's FMU, kept across the runs of one request
#: (``run_many``: one FMU, one tenant). Empty in the zygote; each runner fills its own copy.
_DESCRIPTIONS: dict[tuple[str, bool], Any] = {}


def _model_description(fmu_dir: str, validate: bool) -> Any:
    """What ``simulate_fmu`` would parse itself (same call, same errors), parsed once."""
    key = (fmu_dir, validate)
    if key not in _DESCRIPTIONS:
        from fmpy.model_description import read_model_description

        _DESCRIPTIONS[key] = read_model_description(fmu_dir, validate=validate)
    return _DESCRIPTIONS[key]


def _simulate(spec: dict[str, Any]) -> int:
    import fmpy
    import numpy as np

    limits = spec["limits"]
    status_cap = 1 << 16
    with os.fdopen(FD_REQUEST, "rb", closefd=False) as f:
        header = json.loads(f.readline())
        input_array = np.load(f, allow_pickle=False) if header.get("has_input") else None
    try:
        kwargs = header["kwargs"]
        result = fmpy.simulate_fmu(
            spec["fmu_dir"],
            input=input_array,
            remote_platform=None,  # never start a remoting server (wine, 32-bit helper, ...)
            model_description=_model_description(spec["fmu_dir"], bool(kwargs.get("validate"))),
            **kwargs,
        )
    except MemoryError:
        _report({"ok": False, "code": "memory_limit", "message": "out of memory"}, status_cap)
        return RUNNER_REPORTED
    except Exception as exc:
        message = _truncate(f"{type(exc).__name__}: {exc}")
        _report({"ok": False, "code": "simulation_error", "message": message}, status_cap)
        return RUNNER_REPORTED
    array = np.ascontiguousarray(np.asarray(result).view(np.ndarray))
    cap = int(limits["max_output_bytes"])
    if array.nbytes + 4096 > cap:
        message = f"result of {array.nbytes} bytes exceeds the output limit of {cap} bytes"
        _report({"ok": False, "code": "output_too_large", "message": message}, status_cap)
        return RUNNER_REPORTED
    with os.fdopen(FD_RESULT, "wb", closefd=False) as out:
        np.save(out, array, allow_pickle=False)
        out.flush()
        size = out.tell()
    _report({"ok": True, "result_bytes": size}, status_cap)
    return RUNNER_OK


# --- the keeper (trusted, per request) --------------------------------------------------------


def _cpu_clock_s(pid: int) -> float | None:
    """CPU time (all threads) of a live process, read without any permission or /proc."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)  # MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
    except OSError:
        return None


def _wait_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return KEEPER_SIGNAL_BASE + os.WTERMSIG(status)
    return min(os.waitstatus_to_exitcode(status), KEEPER_SIGNAL_BASE - 1)


class _Runner:
    """One runner process as seen by its keeper."""

    def __init__(self, pid: int, channel: socket.socket) -> None:
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.channel = channel
        self.status: int | None = None  # wait status once reaped
        self.rusage: Any = None
        self.runs: list[int] = []  # indices of the runs it executed
        self.cpu_attributed = 0.0
        self.budget = 0
        self.config = b""  # the run message: limits and paths (applied with the first run)

    def cpu(self) -> float | None:
        return None if self.status is not None else _cpu_clock_s(self.pid)


class Keeper:
    """Runs one request's simulations in this (already isolated) namespace.

    Per run it sends the run's fds to a runner, then waits for the runner's answer, the
    runner's death, the run's wall deadline or its CPU limit, whichever comes first. It writes
    one trusted report per run into the report memfd (slot k + 1) as soon as the run ends,
    and rewrites the reports of a runner's runs once that runner is reaped (its exact peak
    RSS and any CPU its children used). After any run that did not succeed the runner is
    retired and the next run gets a fresh one.

    With a cgroup (``group``) the run is everything in the group: its CPU time is the group's
    (children included), its memory peak the group's (memory files included), and hitting
    the group's memory or process limit ends the run (``memory_limit``, ``process_limit``).
    After every run, successful or not, nothing but the runner is left in the group.
    """

    #: With a group: how often the keeper looks at its OOM and process-limit counters.
    EVENT_POLL_S = 0.05

    def __init__(
        self,
        spec: dict[str, Any],
        report_fd: int,
        runs: list[list[int]],
        *,
        isolated: bool,
        vm_baseline: int,
        fmu_fd: int,
        runner: _Runner | None,
        group: RunGroup | None = None,
        seccomp_bpf: bytes | None = None,
    ) -> None:
        self.spec = spec
        self.limits = spec["limits"]
        self.report_fd = report_fd
        self.runs = runs
        self.isolated = isolated
        self.vm_baseline = vm_baseline
        self.fmu_fd = fmu_fd
        self.reports: dict[int, dict[str, Any]] = {}
        self.stop_requested = False
        self.runner = runner  # forked ahead of the request (isolated mode), or None
        self.orphan_cpu = 0.0
        self.cpus = max(1, len(os.sched_getaffinity(0)))
        self.group = group
        self.seccomp_bpf = seccomp_bpf
        self.group_cpu_mark = 0.0  # group CPU seconds already attributed to runs

    # -- reports --

    def write_report(self, index: int) -> None:
        data = _json_bytes(self.reports[index])[: REPORT_SLOT_BYTES - 1].ljust(
            REPORT_SLOT_BYTES, b"\0"
        )
        with contextlib.suppress(OSError):
            os.pwrite(self.report_fd, data, (index + 1) * REPORT_SLOT_BYTES)

    # -- the run's group --

    def group_cpu(self) -> float:
        assert self.group is not None  # asked only of runs in a group
        return self.group.cpu_ns() / 1e9

    def group_events(self) -> dict[str, int]:
        assert self.group is not None
        try:
            return self.group.events()
        except (OSError, ValueError):
            return {}

    def group_outcome(self, before: dict[str, int]) -> str | None:
        after = self.group_events()
        if after.get("oom_kill", 0) > before.get("oom_kill", 0):
            return "memory_limit"
        if after.get("pids_max", 0) > before.get("pids_max", 0):
            return "process_limit"
        return None

    def reap_orphans(self) -> None:
        """Collect children that are no runner's (orphans reparented to this keeper)."""
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            runner = self.runner
            if runner is not None and pid == runner.pid:
                runner.status, runner.rusage = status, usage
            elif self.group is None:
                self.orphan_cpu += usage.ru_utime + usage.ru_stime

    # -- runner lifecycle --

    def start_runner(self, runs_left: int) -> _Runner:
        cpu_limit = int(self.limits["cpu_seconds"])
        if self.runner is None:
            self.runner = fork_runner(
                self.fmu_fd, self.spec["uid"], self.spec["gid"], self.seccomp_bpf, self.group
            )
        runner = self.runner
        # One run: the kernel enforces its CPU limit exactly. Several: a budget for the
        # runner's life, with each run's share checked here (see run()).
        runner.budget = cpu_limit * max(1, min(runs_left, 8))
        runner.config = _json_bytes(
            {
                "limits": self.limits,
                "vm_baseline": self.vm_baseline,
                "cpu_budget": runner.budget,
                "limit_nproc": self.group is None,
                "work_dir": self.spec["work_dir"],
                "env_work_dir": self.spec["env_work_dir"],
                "fmu_dir": self.spec["fmu_dir"],
            }
        )
        return runner

    def kill_runner(self, runner: _Runner) -> None:
        if self.group is not None:
            # the runner and everything it started, wherever it went (the caller reaps the
            # runner, then makes sure the group is empty)
            self.group.kill(wait=False)
        if runner.status is not None:
            return
        if self.isolated:
            # PID 1 of the run's namespace: kill(-1) reaches every process in it but us
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)
        for kill in (os.killpg, os.kill):  # the group catches forked grandchildren too
            with contextlib.suppress(OSError):
                kill(runner.pid, signal.SIGKILL)

    def reap(self, runner: _Runner, block: bool = True) -> bool:
        """Collect the runner's exit (and any orphans); True once it is reaped."""
        while runner.status is None:
            try:
                pid, status, usage = os.wait4(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                runner.status = -1
                break
            if pid == 0:
                return False
            if pid == runner.pid:
                runner.status, runner.rusage = status, usage
            elif self.group is None:  # an orphaned grandchild: its CPU belongs to this run
                self.orphan_cpu += usage.ru_utime + usage.ru_stime
        if self.group is not None:
            self.reap_orphans()
        return True

    def retire(self, runner: _Runner) -> None:
        """End the runner, then finalise its runs' reports with its exact usage."""
        with contextlib.suppress(OSError):
            runner.channel.close()
        self.kill_runner(runner)
        self.reap(runner)
        if self.group is not None:
            self.group.kill()
            self.reap_orphans()
        os.close(runner.pidfd)
        if self.runner is runner:
            self.runner = None
        if runner.rusage is None or not runner.runs:
            return
        usage = runner.rusage
        last = runner.runs[-1]
        if self.group is not None:
            # whatever the run's processes used until they were all gone
            now = self.group_cpu()
            self.reports[last]["cpu_s"] += max(0.0, now - self.group_cpu_mark)
            self.group_cpu_mark = now
        else:
            total_cpu = usage.ru_utime + usage.ru_stime  # includes its reaped children
            self.reports[last]["cpu_s"] += max(0.0, total_cpu - runner.cpu_attributed)
        for index in runner.runs:
            self.reports[index]["maxrss_bytes"] = usage.ru_maxrss * 1024
            self.reports[index]["final"] = True
            self.write_report(index)

    # -- one run --

    def run_one(self, index: int) -> bool:
        """Run ``index`` on the current runner; True when the runner may take the next run."""
        runner = self.runner
        assert runner is not None
        group = self.group
        wall = float(self.limits["wall_seconds"])
        cpu_limit = float(self.limits["cpu_seconds"])
        report: dict[str, Any] = {"code": None, "wall_s": 0.0, "cpu_s": 0.0, "final": False}
        self.reports[index] = report
        runner.runs.append(index)
        events: dict[str, int] = {}
        if group is not None:
            events = self.group_events()
            group.reset_peak()
            self.group_cpu_mark = self.group_cpu()

        def used_cpu() -> float | None:
            if group is not None:
                return self.group_cpu() - self.group_cpu_mark
            now = runner.cpu()
            return None if now is None else now - cpu_start

        started = time.monotonic()
        cpu_start = runner.cpu() or 0.0
        try:
            socket.send_fds(runner.channel, [runner.config], self.runs[index])
        except OSError:
            pass  # a dead runner: noticed below
        finally:
            for fd in self.runs[index]:  # the runner holds the run's data now, not the keeper
                os.close(fd)
        outcome: str | None = None
        answer: dict[str, Any] | None = None
        poller = select.poll()
        poller.register(runner.channel, select.POLLIN)
        poller.register(runner.pidfd, select.POLLIN)
        while True:
            now = time.monotonic()
            cpu_used = used_cpu()
            if self.stop_requested:
                outcome = "timed_out"
                break
            if now - started >= wall:
                outcome = "timed_out"
                break
            if cpu_used is not None and cpu_used > cpu_limit:
                outcome = "cpu_limit"
                break
            if group is not None:
                outcome = self.group_outcome(events)
                if outcome is not None:
                    break
            until_cpu = (cpu_limit - (cpu_used or 0.0)) / self.cpus
            timeout = min(wall - (now - started), max(0.005, until_cpu))
            if group is not None:
                timeout = min(timeout, self.EVENT_POLL_S)
            events_now = dict(poller.poll(max(1, math.ceil(timeout * 1000))))
            if runner.channel.fileno() in events_now:
                try:
                    data = runner.channel.recv(4096)
                except OSError:
                    data = b""
                answer = _parse_answer(data)
                if answer is not None:
                    break
                # EOF or garbage: the runner is dying or misbehaving; wait for its end
                poller.unregister(runner.channel)
            if runner.pidfd in events_now:
                break
        if answer is None and outcome is None and self.stop_requested:
            outcome = "timed_out"
        if group is not None and outcome is None:
            # the OOM killer may have hit a child, or a fork been refused, at the very end
            outcome = self.group_outcome(events)
            if outcome is not None:
                answer = None
        wall_s = time.monotonic() - started
        if answer is not None:
            report["code"] = answer["code"]
            if group is not None:
                group.kill(spare=runner.pid)  # nothing of this run outlives it but the runner
                self.reap_orphans()
                if runner.status is not None:
                    self.reap(runner)
            cpu_end = runner.cpu()
            if cpu_end is None:  # died right after answering
                self.reap(runner)
            elif group is None:
                report["cpu_s"] = max(0.0, cpu_end - cpu_start)
                runner.cpu_attributed += report["cpu_s"]
        else:
            if outcome is not None:
                self.kill_runner(runner)
            self.reap(runner)
            if group is not None:
                group.kill()
                self.reap_orphans()
            if outcome is None:
                status = runner.status  # reaped just above (a blocking reap always sets it)
                report["code"] = _wait_code(status) if status is not None and status >= 0 else None
            report["outcome"] = outcome
        if group is not None:
            now_cpu = self.group_cpu()
            report["cpu_s"] = max(0.0, now_cpu - self.group_cpu_mark)
            self.group_cpu_mark = now_cpu
            report["group_peak_bytes"] = group.memory_peak()
        else:
            if runner.status is not None and runner.rusage is not None:
                usage = runner.rusage
                report["cpu_s"] = max(0.0, usage.ru_utime + usage.ru_stime - runner.cpu_attributed)
                runner.cpu_attributed += report["cpu_s"]
            report["cpu_s"] += self.orphan_cpu
            self.orphan_cpu = 0.0
        report["wall_s"] = wall_s
        self.write_report(index)
        ok = answer is not None and answer["code"] == RUNNER_OK and runner.status is None
        return ok

    def run(self) -> int:
        cpu_limit = int(self.limits["cpu_seconds"])
        count = len(self.runs)
        if self.group is not None:
            self.group.configure(
                int(self.limits["memory_bytes"]), int(self.limits["max_processes"])
            )
        for index in range(count):
            if self.stop_requested:
                break
            runner = self.runner
            if runner is not None and runner.runs:
                used = runner.cpu()
                # never start a run that could hit the runner's CPU budget before its own limit
                if used is None or used + cpu_limit + 1 > runner.budget:
                    self.retire(runner)
            if self.runner is None or not self.runner.runs:
                self.start_runner(count - index)
            if not self.run_one(index):
                assert self.runner is not None
                self.retire(self.runner)
        if self.runner is not None:
            self.retire(self.runner)
        for index in range(count):  # runs never started keep their fds until now
            if index not in self.reports:
                for fd in self.runs[index]:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        return KEEPER_STOPPED if self.stop_requested else KEEPER_OK

    def on_stop(self, _sig: int, _frame: object) -> None:
        """SIGUSR1 from the zygote (its deadline for the whole request): stop now."""
        self.stop_requested = True
        if self.runner is not None:
            self.kill_runner(self.runner)


def _parse_answer(data: bytes) -> dict[str, Any] | None:
    """The runner's ``{"code": n}`` (untrusted); None for anything else."""
    if not data or len(data) > 256:
        return None
    try:
        answer = json.loads(data)
    except ValueError:
        return None
    code = answer.get("code") if isinstance(answer, dict) else None
    if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code < KEEPER_SIGNAL_BASE:
        return None
    return {"code": code}


def _write_header(report_fd: int, header: dict[str, Any]) -> None:
    data = _json_bytes(header)[: REPORT_SLOT_BYTES - 1].ljust(REPORT_SLOT_BYTES, b"\0")
    with contextlib.suppress(OSError):
        os.pwrite(report_fd, data, 0)


def _keeper_main(
    assign: socket.socket,
    cfg: dict[str, Any],
    plan: dict[str, Any],
    state: dict[str, Any],
    slot: _Slot,
) -> NoReturn:
    """A spare keeper: build the sandbox, wait for a request, run it, exit.

    Until its request arrives it holds nothing of any tenant; the request (spec, report memfd,
    the runs' memfds) comes from the zygote over ``assign``. ``slot``: the run's cgroup (or
    None) and the uid its runner gets.
    """
    group = slot.group
    code = KEEPER_SETUP_FAILED
    report_fd = -1
    keeper: Keeper | None = None
    reply: socket.socket | None = None  # the worker's end of this request, when given
    try:
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # until there is something to stop
        _close_fds_except({assign.fileno(), *(group.dirfds.values() if group else ())})
        null = os.open("/dev/null", os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.close(null)
        vm_baseline = _vm_bytes()
        bpf = state.get("seccomp_bpf")
        setup_error = ""
        runner: _Runner | None = None
        try:
            if state["isolated"]:
                os.setsid()
                prepare_isolation(
                    plan, cfg["mountpoint"], cfg["cache_dir"], own_userns=state["run_userns"]
                )
                # The runner too is ready before the request: it has already given up its
                # privileges (and is in the run's cgroup) and only gets its limits and the
                # run's fds from the request.
                runner = fork_runner(-1, slot.uid, slot.gid, bpf, group)
            else:
                os.setpgid(0, 0)
                prctl(PR_SET_CHILD_SUBREAPER, 1)  # processes that escape still come back here
        except Exception as exc:
            setup_error = _truncate(f"sandbox setup failed: {type(exc).__name__}: {exc}")
        data, fds, _, _ = socket.recv_fds(
            assign, CONTROL_MSG_MAX, 2 + FDS_PER_RUN * MAX_RUNS_PER_REQUEST
        )
        assign.close()
        if not data:
            os._exit(KEEPER_OK)  # the zygote is shutting down
        _set_name(b"fmu-keeper")
        spec = json.loads(data)
        if spec.get("reply") and fds:
            reply = socket.socket(fileno=fds.pop())
        report_fd = fds[0]
        run_fds = [fds[i : i + FDS_PER_RUN] for i in range(1, len(fds), FDS_PER_RUN)]
        if setup_error:
            raise RuntimeError(setup_error)
        fmu_fd = -1
        if state["isolated"]:
            finish_isolation(
                spec.get("fmu_key"),
                uid=spec["uid"],
                gid=spec["gid"],
                scratch_bytes=int(spec["limits"]["max_scratch_bytes"]),
            )
        elif not spec.get("probe"):
            # The unprivileged runner may not be able to walk the host path to the cache
            # (0700 parents); an fd opened now stays usable after the uid switch.
            fmu_fd = os.open(spec["host_fmu_dir"], os.O_RDONLY | os.O_DIRECTORY)
            spec["fmu_dir"] = f"/proc/self/fd/{FD_FMU_DIR}"
        if spec.get("probe"):
            os._exit(KEEPER_OK)
        keeper = Keeper(
            spec,
            report_fd,
            run_fds,
            isolated=state["isolated"],
            vm_baseline=vm_baseline,
            fmu_fd=fmu_fd,
            runner=runner,
            group=group,
            seccomp_bpf=bpf,
        )
        signal.signal(signal.SIGUSR1, keeper.on_stop)
        code = keeper.run()
        if code == KEEPER_OK and reply is not None and state["isolated"]:
            # Every run has its final report now: tell the worker at once instead of letting
            # it wait for this process and its namespaces to be torn down and reaped. (Not in
            # insecure mode: there the zygote removes the run's work dir after the reap.)
            with contextlib.suppress(OSError):
                reply.send(
                    _json_bytes(
                        {"type": "done", "wait_status": 0, "baseline_rss": spec["baseline_rss"]}
                    )
                )
    except BaseException as exc:
        if code == KEEPER_SETUP_FAILED and report_fd >= 0:
            message = (
                str(exc)
                if str(exc).startswith("sandbox setup failed")
                else (f"sandbox setup failed: {type(exc).__name__}: {exc}")
            )
            _write_header(report_fd, {"setup_error": _truncate(message)})
        elif keeper is not None and keeper.runner is not None:
            keeper.kill_runner(keeper.runner)
    os._exit(code)


_WARMUP_DESCRIPTIONS = {
    "2": """<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="2.0" modelName="w" guid="{0}" numberOfEventIndicators="0">
  <ModelExchange modelIdentifier="w"/>
  <CoSimulation modelIdentifier="w"/>
  <DefaultExperiment startTime="0" stopTime="1"/>
  <ModelVariables>
    <ScalarVariable name="x" valueReference="0" causality="local" variability="continuous"
        initial="exact"><Real start="1"/></ScalarVariable>
    <ScalarVariable name="der(x)" valueReference="1" causality="local"
        variability="continuous" initial="calculated"><Real derivative="1"/></ScalarVariable>
    <ScalarVariable name="y" valueReference="2" causality="output" variability="discrete"
        initial="calculated"><Integer/></ScalarVariable>
  </ModelVariables>
  <ModelStructure>
    <Outputs><Unknown index="3"/></Outputs>
    <Derivatives><Unknown index="2"/></Derivatives>
  </ModelStructure>
</fmiModelDescription>
""",
}


def _cache_fmi_schemas() -> None:
    """Parse fmpy's FMI XSDs once here instead of in every run (~2-5 ms each time).

    fmpy calls ``etree.XMLSchema(file=...)`` on every ``read_model_description``; each run is a
    fresh fork, so handing it the pre-parsed, never-used schema object is equivalent.
    """
    import fmpy
    from lxml import etree

    original = etree.XMLSchema
    schema_dir = os.path.join(os.path.dirname(fmpy.__file__), "schema")
    cache = {}
    for name in (
        "fmi1/fmiModelDescription.xsd",
        "fmi2/fmi2ModelDescription.xsd",
        "fmi3/fmi3ModelDescription.xsd",
        "fmi3/fmi3BuildDescription.xsd",
    ):
        path = os.path.join(schema_dir, name)
        with contextlib.suppress(Exception):
            cache[path] = original(file=path)

    def xml_schema(etree: Any = None, file: Any = None, **kwargs: Any) -> Any:
        if etree is None and not kwargs and isinstance(file, str) and file in cache:
            return cache[file]
        return original(etree, file=file, **kwargs)

    # A deliberate monkeypatch of lxml's class with a caching factory (see above).
    etree.XMLSchema = xml_schema  # type: ignore[misc, assignment]


def _cache_fmpy_signatures() -> None:
    """Compute the signatures of fmpy's FMI methods once here instead of in every run.

    Each FMU instance binds its C functions by calling ``inspect.signature`` on every ``fmi*``
    method of its class (~1-2 ms per run); the answers depend only on fmpy's code, so the
    zygote computes them once and every forked run reuses them (same objects, immutable).
    """
    import inspect

    from fmpy import fmi1, fmi2, fmi3

    original = inspect.signature
    cache: dict[Any, inspect.Signature] = {}
    for module in (fmi1, fmi2, fmi3):
        for cls in vars(module).values():
            if not isinstance(cls, type):
                continue
            for name, func in vars(cls).items():
                if name.startswith("fmi") and inspect.isfunction(func):
                    with contextlib.suppress(Exception):
                        cache[func] = original(func)

    def signature(obj: Any, *args: Any, **kwargs: Any) -> inspect.Signature:
        found = cache.get(getattr(obj, "__func__", None)) if not (args or kwargs) else None
        if found is None or getattr(obj, "__self__", None) is None:
            return original(obj, *args, **kwargs)
        return found.replace(parameters=list(found.parameters.values())[1:])  # bound: no self

    inspect.signature = signature


# --- the zygote -------------------------------------------------------------------------------


class _Slot:
    """What a keeper is given besides its request: its run's cgroup and its runner's uid.

    Without cgroups a root worker gives every concurrent run a uid of its own from
    ``uid_base`` on (the kernel counts RLIMIT_NPROC per uid), reserved with a lock file that
    all zygotes sharing the temp root see; it is released when the keeper has been reaped.
    """

    __slots__ = ("gid", "group", "lock_fd", "uid")

    def __init__(self, uid: int, gid: int, group: Any = None, lock_fd: int = -1) -> None:
        self.uid = uid
        self.gid = gid
        self.group = group
        self.lock_fd = lock_fd


class _Run:
    __slots__ = (
        "client_gone",
        "deadline",
        "escalate_at",
        "pid",
        "pidfd",
        "slot",
        "sock",
        "started",
        "timed_out",
        "work_dir",
    )

    def __init__(
        self,
        pid: int,
        pidfd: int,
        sock: socket.socket,
        limit: float,
        work_dir: str,
        slot: _Slot,
    ):
        self.pid = pid
        self.pidfd = pidfd
        self.sock = sock
        self.started = time.monotonic()
        self.deadline = self.started + limit
        self.escalate_at: float | None = None
        self.timed_out = False
        self.client_gone = False
        self.work_dir = work_dir
        self.slot = slot


class _Spare:
    """A keeper forked ahead of its request, building (or done building) its sandbox."""

    __slots__ = ("pid", "pidfd", "slot", "sock")

    def __init__(self, pid: int, pidfd: int, sock: socket.socket, slot: _Slot) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.sock = sock
        self.slot = slot

    def discard(self) -> None:
        self.sock.close()  # a waiting spare exits on EOF; kill it anyway (it may be building)
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        os.close(self.pidfd)


def request_time_limit(runs: int, wall_seconds: float) -> float:
    """The zygote's backstop for a whole request; the keeper enforces each run's own limit."""
    return runs * (wall_seconds + 1.0) + 1.0


#: Per-run uids (root workers without cgroups): at most this many runs at once per temp root.
RUN_UID_SLOTS = 1024


class Zygote:
    def __init__(
        self,
        ctl: socket.socket,
        cfg: dict[str, Any],
        isolated: bool,
        cgroups: Any = None,
    ) -> None:
        self.ctl = ctl
        self.cfg = cfg
        self.isolated = isolated
        self.cgroups = cgroups
        self.runs: dict[int, _Run] = {}
        self.counter = 0
        self.state: dict[str, Any] = {
            "isolated": isolated,
            "run_userns": False,
            "seccomp_bpf": None,
        }
        self.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY) if isolated else -1
        self.plan: dict[str, Any] = {}
        self.baseline_rss = 0
        self.spare: _Spare | None = None
        self.run_uids = False  # root without cgroups: a uid per run slot

    def warm_up(self) -> None:
        """Import everything a simulation needs once, so each forked run starts warm."""
        import fmpy
        import fmpy.fmi1
        import fmpy.fmi2
        import fmpy.fmi3
        import fmpy.model_description
        import fmpy.simulation
        import fmpy.util
        import fmpy.validation
        import lxml.etree  # noqa: F401
        import numpy  # noqa: F401

        with contextlib.suppress(Exception):
            import fmpy.sundials
        _cache_fmi_schemas()
        with contextlib.suppress(Exception):
            _cache_fmpy_signatures()
        # Exercise the model-description path once (lazy imports, regex compilation, lxml
        # set-up) so that every forked run starts from a warm state instead of paying it again.
        warm_dir = os.path.join(self.cfg["state_dir"], "warmup")
        os.makedirs(warm_dir, exist_ok=True)
        for version, xml in _WARMUP_DESCRIPTIONS.items():
            path = os.path.join(warm_dir, f"md{version}.xml")
            with open(path, "w") as f:
                f.write(xml)
            with contextlib.suppress(Exception):
                fmpy.model_description.read_model_description(path, validate=True)
        shutil.rmtree(warm_dir, ignore_errors=True)
        # Objects that exist now are shared copy-on-write with every run; keep the collector
        # from touching (and thereby copying) them in the children.
        gc.collect()
        gc.freeze()

    # -- isolation features beyond namespaces --

    def set_up_seccomp(self) -> tuple[bool, str]:
        """Build the filter once and check, in a throw-away child, that it refuses unshare."""
        if not self.cfg.get("seccomp", True):
            return False, "seccomp disabled by configuration"
        try:
            program = _seccomp.build()
        except Exception as exc:
            return False, _truncate(f"{type(exc).__name__}: {exc}", 300)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                prctl(PR_SET_NO_NEW_PRIVS, 1)
                _seccomp.install(program)
                refused = _libc.unshare(CLONE_NEWUSER) != 0 and ctypes.get_errno() == errno.EPERM
                code = 0 if refused else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            return False, f"the seccomp filter did not load (wait status {status})"
        self.state["seccomp_bpf"] = program
        return True, f"{len(_seccomp.DENIED) + len(_seccomp.ENOSYS)} system calls refused"

    def set_up_run_uids(self) -> str:
        """Without cgroups: a uid (root) or a user namespace (otherwise) per run; or why not."""
        if os.geteuid() == 0 and self.cfg.get("uid_slot_dir"):
            os.makedirs(self.cfg["uid_slot_dir"], mode=0o700, exist_ok=True)
            self.run_uids = True
            return "a uid per run"
        if not self.isolated:
            return ""
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                enter_run_user_namespace()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            return ""
        self.state["run_userns"] = True
        return "a user namespace per run"

    def new_slot(self) -> _Slot:
        uid, gid = self.cfg["uid"], self.cfg["gid"]
        if self.cgroups is not None:
            return _Slot(uid, gid, group=self.cgroups.new_group())
        if self.run_uids:
            directory = self.cfg["uid_slot_dir"]
            for index in range(RUN_UID_SLOTS):
                fd = os.open(f"{directory}/{index}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                base = int(self.cfg["run_uid_base"])
                return _Slot(base + index, gid, lock_fd=fd)
            raise RuntimeError("no free per-run uid")
        return _Slot(uid, gid)

    def free_slot(self, slot: _Slot) -> None:
        if slot.group is not None and self.cgroups is not None:
            self.cgroups.remove(slot.group)  # kills anything left, then removes the group
            slot.group = None
        if slot.lock_fd >= 0:
            os.close(slot.lock_fd)
            slot.lock_fd = -1

    # -- keepers --

    def fork_spare(self) -> _Spare:
        """Fork a keeper that builds its sandbox now and then waits for a request."""
        slot = self.new_slot()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        _set_name(b"fmu-spare")  # inherited by the child at once (tests tell spares by name)
        if self.isolated:
            unshare(CLONE_NEWPID)  # the next child becomes PID 1 of a fresh PID namespace
        try:
            pid = os.fork()
        except BaseException:
            _set_name(b"fmu-zygote")
            if self.isolated:
                setns(self.pidns_fd, CLONE_NEWPID)
            mine.close()
            theirs.close()
            self.free_slot(slot)
            raise
        if pid == 0:
            try:
                mine.close()
                _keeper_main(theirs, self.cfg, self.plan, self.state, slot)
            finally:
                os._exit(KEEPER_SETUP_FAILED)
        _set_name(b"fmu-zygote")
        if self.isolated:
            setns(self.pidns_fd, CLONE_NEWPID)
        theirs.close()
        return _Spare(pid, os.pidfd_open(pid), mine, slot)

    def discard(self, spare: _Spare) -> None:
        spare.discard()
        self.free_slot(spare.slot)

    def take_spare(self) -> _Spare:
        spare, self.spare = self.spare, None
        if spare is not None and select.select([spare.pidfd], [], [], 0)[0]:
            self.discard(spare)  # it died (setup crashed): build another
            spare = None
        return spare if spare is not None else self.fork_spare()

    def assign(self, spec: dict[str, Any], fds: list[int], reply: int = -1) -> tuple[_Spare, str]:
        """Hand a request to a spare keeper; returns it and the insecure work dir (or "").

        ``reply``: the worker's socket for this request, also given to the keeper (trusted)
        so that it can answer the moment its reports are final."""
        self.counter += 1
        work_dir = ""
        spec = dict(spec, baseline_rss=self.baseline_rss)
        if self.isolated:
            spec["work_dir"] = spec["env_work_dir"] = SANDBOX_WORK_DIR
            spec["fmu_dir"] = SANDBOX_FMU_DIR
        else:
            spec["env_work_dir"] = "/proc/self/cwd"  # the host path may not be walkable
            spec["fmu_dir"] = spec["host_fmu_dir"]
        if reply >= 0:
            spec["reply"] = True
            fds = [*fds, reply]
        for attempt in (1, 2):
            spare = self.take_spare()
            spec.update(uid=spare.slot.uid, gid=spare.slot.gid)
            if not self.isolated:
                work_dir = os.path.join(self.cfg["state_dir"], f"run-{self.counter}-{attempt}")
                os.mkdir(work_dir, 0o700)
                if os.geteuid() == 0:
                    os.chown(work_dir, spare.slot.uid, spare.slot.gid)
                spec["work_dir"] = work_dir
            try:
                socket.send_fds(spare.sock, [_json_bytes(spec)], fds)
                spare.sock.close()
                return spare, work_dir
            except OSError:
                self.discard(spare)
                if work_dir:
                    shutil.rmtree(work_dir, ignore_errors=True)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def self_test(self) -> str | None:
        """Build one sandbox root without running anything; returns an error or None."""
        report_fd = -1
        try:
            report_fd = os.memfd_create("probe-report")
            os.ftruncate(report_fd, REPORT_SLOT_BYTES)
            spec = {"probe": True, "fmu_key": None, "limits": {"max_scratch_bytes": 1 << 20}}
            spare, _ = self.assign(spec, [report_fd])
            _, status = os.waitpid(spare.pid, 0)
            os.close(spare.pidfd)
            self.free_slot(spare.slot)
            if status == 0:
                return None
            raw = os.pread(report_fd, REPORT_SLOT_BYTES, 0).split(b"\0", 1)[0]
            try:
                return str(json.loads(raw)["setup_error"])
            except (ValueError, KeyError, TypeError):
                return f"sandbox self-test failed with wait status {status}"
        except Exception as exc:
            return f"sandbox self-test failed: {type(exc).__name__}: {exc}"
        finally:
            if report_fd >= 0:
                os.close(report_fd)

    # -- event loop --

    def handle_request(self) -> bool:
        try:
            data, fds, flags, _ = socket.recv_fds(
                self.ctl, CONTROL_MSG_MAX, 2 + FDS_PER_RUN * MAX_RUNS_PER_REQUEST
            )
        except OSError:
            return False
        if not data:
            for fd in fds:
                os.close(fd)
            return False  # the worker closed the control socket: shut down
        try:
            spec = json.loads(data)
            runs = int(spec["runs"])
            valid = 1 <= runs <= MAX_RUNS_PER_REQUEST and len(fds) == 2 + FDS_PER_RUN * runs
        except (ValueError, KeyError, TypeError):
            valid = False
        if not valid or flags & socket.MSG_CTRUNC:
            for fd in fds:
                os.close(fd)
            return True
        sock = socket.socket(fileno=fds[0])
        run_fds = fds[1:]
        try:
            spare, work_dir = self.assign(spec, run_fds, reply=sock.fileno())
        except Exception as exc:
            message = _truncate(f"could not start sandbox: {type(exc).__name__}: {exc}")
            self._send(sock, {"type": "done", "error": message})
            sock.close()
            return True
        finally:
            for fd in run_fds:  # the zygote never reads tenant data; only the keeper holds them
                os.close(fd)
        limit = request_time_limit(runs, float(spec["limits"]["wall_seconds"]))
        run = _Run(spare.pid, spare.pidfd, sock, limit, work_dir, spare.slot)
        self.runs[spare.pid] = run
        try:
            socket.send_fds(sock, [_json_bytes({"type": "started"})], [spare.pidfd])
        except OSError:
            run.client_gone = True
            self._kill(run, signal.SIGKILL)
        try:
            self.spare = self.fork_spare()  # the next request finds its sandbox ready
        except Exception:  # take_spare tries again with the next request
            self.spare = None
        return True

    @staticmethod
    def _send(sock: socket.socket, msg: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            sock.send(_json_bytes(msg))

    @staticmethod
    def _kill(run: _Run, sig: int) -> None:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(run.pidfd, sig)
        if sig == signal.SIGKILL and run.work_dir:
            # insecure mode: no PID namespace, so also kill the keeper's process group
            with contextlib.suppress(OSError):
                os.killpg(run.pid, signal.SIGKILL)

    def reap(self, run: _Run) -> None:
        try:
            _, status, usage = os.wait4(run.pid, 0)
        except ChildProcessError:
            status, usage = -1, None
        wall = time.monotonic() - run.started
        msg: dict[str, Any] = {
            "type": "done",
            "wait_status": status,
            "wall_s": wall,
            "timed_out": run.timed_out,
            "client_gone": run.client_gone,
            "baseline_rss": self.baseline_rss,
        }
        if usage is not None:
            msg.update(cpu_s=usage.ru_utime + usage.ru_stime, maxrss_bytes=usage.ru_maxrss * 1024)
        # before replying, so the worker never sees a leftover (in isolated mode the keeper
        # has replied already: this is done meanwhile)
        self.free_slot(run.slot)
        if run.work_dir:
            shutil.rmtree(run.work_dir, ignore_errors=True)
        self._send(run.sock, msg)
        run.sock.close()
        os.close(run.pidfd)
        del self.runs[run.pid]

    def serve(self) -> None:
        self.spare = self.fork_spare()
        while True:
            now = time.monotonic()
            for run in list(self.runs.values()):
                if run.escalate_at is None and now >= run.deadline:
                    run.timed_out = True
                    run.escalate_at = now + 0.5
                    self._kill(run, signal.SIGUSR1)  # keeper kills the runner and reports usage
                elif run.escalate_at is not None and now >= run.escalate_at:
                    run.escalate_at = now + 3600
                    self._kill(run, signal.SIGKILL)
            wakeups = [r.escalate_at or r.deadline for r in self.runs.values()]
            timeout_ms = None
            if wakeups:
                timeout_ms = max(0, int((min(wakeups) - now) * 1000) + 1)
            poller = select.poll()
            poller.register(self.ctl, select.POLLIN)
            by_fd: dict[int, tuple[str, _Run]] = {}
            for run in self.runs.values():
                poller.register(run.pidfd, select.POLLIN)
                by_fd[run.pidfd] = ("exit", run)
                if not run.client_gone:
                    poller.register(run.sock, select.POLLIN)
                    by_fd[run.sock.fileno()] = ("client", run)
            for fd, _events in poller.poll(timeout_ms):
                if fd == self.ctl.fileno():
                    if not self.handle_request():
                        return
                    continue
                kind, run = by_fd[fd]
                if run.pid not in self.runs:
                    continue
                if kind == "exit":
                    self.reap(run)
                else:  # the worker went away (or misbehaves): stop the run
                    run.client_gone = True
                    self._kill(run, signal.SIGKILL)

    def shutdown(self) -> None:
        if self.spare is not None:
            self.discard(self.spare)
            self.spare = None
        for run in list(self.runs.values()):
            self._kill(run, signal.SIGKILL)
        for run in list(self.runs.values()):
            self.reap(run)
        if self.cgroups is not None:
            self.cgroups.close()


def _enter_launcher_namespaces() -> str | None:
    """New PID namespace (+ user namespace when not root) for the zygote; error or None."""
    try:
        if os.geteuid() == 0:
            unshare(CLONE_NEWPID)
        else:
            uid, gid = os.geteuid(), os.getegid()
            unshare(CLONE_NEWUSER | CLONE_NEWPID)
            _write_file("/proc/self/setgroups", "deny")
            _write_file("/proc/self/uid_map", f"{uid} {uid} 1")
            _write_file("/proc/self/gid_map", f"{gid} {gid} 1")
        return None
    except OSError as exc:
        return str(exc)


def main(argv: list[str]) -> int:
    cfg = json.loads(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ctl = socket.socket(fileno=int(cfg["ctl_fd"]))
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != cfg["parent_pid"]:
        return 1  # the worker died while we were starting
    if os.geteuid() != 0:
        cfg["uid"], cfg["gid"] = os.geteuid(), os.getegid()

    # Cgroups are set up here, in the worker's PID namespace and (non-root) user namespace:
    # the group directories are named after this launcher's PID and stale ones are found by
    # theirs. The zygote and its keepers use the directories through fds and paths.
    cgroups, cgroup_reason = None, ""
    try:
        cgroups, cgroup_reason = _cgroup.setup(
            cfg.get("cgroups", "auto"), cfg.get("cgroup_v2_parent")
        )
    except Exception as exc:
        cgroup_reason = _truncate(f"{type(exc).__name__}: {exc}", 300)

    error = "isolation disabled by configuration" if cfg.get("force_no_isolation") else None
    if error is None:
        error = _enter_launcher_namespaces()
    isolated = error is None
    if isolated:
        pid = os.fork()  # the child is PID 1 of the new namespace and becomes the zygote
        if pid:
            ctl.close()
            code = 1
            while True:
                try:
                    _, status = os.waitpid(pid, 0)
                    code = os.waitstatus_to_exitcode(status) & 0xFF
                    break
                except ChildProcessError:
                    break
            if cgroups is not None:
                cgroups.close()  # the zygote's PID namespace is gone, so are its processes
            return code
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _set_name(b"fmu-zygote")

    zygote = Zygote(ctl, cfg, isolated, cgroups)
    hello: dict[str, Any] = {"type": "hello", "isolated": isolated, "reason": error or ""}
    try:
        if not cfg.get("probe_only"):
            zygote.warm_up()
        seccomp_on, seccomp_detail = zygote.set_up_seccomp()
        run_uid = "" if cgroups is not None else zygote.set_up_run_uids()
        zygote.plan = build_mount_plan(cfg["extra_ro_paths"], cfg["forbidden_paths"])
        if isolated:
            error = zygote.self_test()
            if error is not None:
                isolated = zygote.isolated = zygote.state["isolated"] = False
                hello.update(isolated=False, reason=error)
    except Exception as exc:
        hello.update(ok=False, error=_truncate(f"{type(exc).__name__}: {exc}"))
        ctl.send(_json_bytes(hello))
        if cgroups is not None:
            cgroups.close()
        return 3
    zygote.baseline_rss = _rss_bytes()
    refused = not isolated and not cfg["allow_insecure"]
    hello.update(
        ok=not refused,
        plan=zygote.plan,
        euid=os.geteuid(),
        cgroup=cgroups.version if cgroups is not None else "none",
        cgroup_detail=cgroups.describe() if cgroups is not None else cgroup_reason,
        cgroup_dirs=cgroups.dirs if cgroups is not None else {},
        seccomp=seccomp_on,
        seccomp_detail=seccomp_detail,
        per_run_uid=run_uid,
    )
    if refused:
        hello["error"] = f"sandbox isolation unavailable: {hello['reason']}"
    ctl.send(_json_bytes(hello))
    if refused or cfg.get("probe_only"):
        zygote.shutdown()
        return 0 if cfg.get("probe_only") else 3
    try:
        zygote.serve()
    finally:
        zygote.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
