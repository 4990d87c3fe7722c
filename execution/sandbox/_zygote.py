"""Zygote, keeper and runner processes of the FMU sandbox.

This file is executed as a standalone script (``python -I -B _zygote.py CONFIG``) by
:class:`execution.sandbox.runner.Sandbox`. It must stay importable without the project on
``sys.path`` and must never import Django: the whole point of the zygote is to be a process
whose memory holds no secrets (SECRET_KEY, database credentials, other tenants' data), so that
the processes forked from it to run untrusted FMUs inherit nothing worth stealing.

Process tree (isolated mode)::

    Django/Celery worker            (holds secrets; never forks FMU code)
     └─ Z0  launcher                (exec'd with a minimal env; new PID ns [+ user ns if not root])
         └─ Z  zygote               (PID 1 of that ns; fmpy/numpy imported once; no tenant data)
             └─ K  keeper           (per run: PID 1 of a fresh PID ns, new mount/net/IPC/UTS ns,
                 │                   builds a minimal tmpfs root and pivots into it; trusted)
                 └─ R  runner       (drops to an unprivileged uid, rlimits, loads the FMU)

The zygote receives only run metadata (extracted-FMU directory, limits) on the control socket.
Tenant data (start values, inputs) travels in a sealed memfd straight from the worker to the
runner; results, status and log come back through size-capped, sealed memfds created by the
worker, so nothing the runner produces is ever unpickled or read without a bound.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import gc
import io
import json
import os
import platform
import resource
import select
import shutil
import signal
import socket
import sys
import time
from typing import Any, NoReturn

# --- protocol shared with runner.py -------------------------------------------------------

#: Keeper exit codes (trusted: the keeper is our own code running with privileges).
KEEPER_SIGNAL_BASE = 64  # 64 + n: the runner was killed by signal n
KEEPER_SETUP_FAILED = 200  # isolation could not be set up (message in the status memfd)
KEEPER_FORK_FAILED = 201
#: Runner exit codes (untrusted: FMU code runs in the runner and may call exit()).
RUNNER_OK = 0
RUNNER_REPORTED = 1  # a failure was reported in the status memfd

#: fds of a run inside the keeper/runner
FD_REQUEST, FD_STATUS, FD_RESULT, FD_LOG = 3, 4, 5, 6
FD_FMU_DIR = 7  # insecure mode only: the FMU dir, reached as /proc/self/fd/7 after setuid

SANDBOX_FMU_DIR = "/sandbox/fmu"
SANDBOX_WORK_DIR = "/sandbox/work"
MAX_MESSAGE_CHARS = 4000
CONTROL_MSG_MAX = 1 << 16

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


def enter_isolation(
    plan: dict[str, Any],
    mountpoint: str,
    fmu_dir: str | None,
    *,
    uid: int,
    gid: int,
    scratch_bytes: int,
) -> None:
    """Private mount/net/IPC/UTS namespaces and a minimal read-only root (keeper only)."""
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
    if fmu_dir is not None:
        os.makedirs(root + SANDBOX_FMU_DIR, 0o755)
        mount(fmu_dir, root + SANDBOX_FMU_DIR, None, MS_BIND)
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
        mount(None, root + SANDBOX_FMU_DIR, None, flags | _locked_flags(fmu_dir))
    # The scratch dir is a size-capped tmpfs that vanishes with the mount namespace, so nothing
    # is left on disk even if everything is SIGKILLed.
    os.makedirs(root + SANDBOX_WORK_DIR, 0o700)
    nr_inodes = max(64, min(100_000, scratch_bytes // 4096))
    mount(
        "fmu-work",
        root + SANDBOX_WORK_DIR,
        "tmpfs",
        MS_NOSUID | MS_NODEV | MS_NOEXEC,
        f"size={scratch_bytes},nr_inodes={nr_inodes},mode=0700,uid={uid},gid={gid}",
    )
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


def _runner_main(spec: dict[str, Any], vm_baseline: int) -> NoReturn:
    code = RUNNER_REPORTED
    limits = spec["limits"]
    try:
        os.setsid()
        for sig in (signal.SIGUSR1, signal.SIGINT, signal.SIGTERM, signal.SIGXFSZ, signal.SIGXCPU):
            signal.signal(sig, signal.SIG_DFL)  # Python ignores SIGXFSZ; we want the signal
        cpu = int(limits["cpu_seconds"])
        fsize = int(limits["fsize_bytes"])
        rlimits = [
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_MEMLOCK, 0),
            (resource.RLIMIT_FSIZE, fsize),
            (resource.RLIMIT_NOFILE, int(limits["max_open_files"])),
            (resource.RLIMIT_NPROC, int(limits["max_processes"])),
            (resource.RLIMIT_AS, vm_baseline + int(limits["memory_bytes"])),
        ]
        for which, value in rlimits:
            resource.setrlimit(which, (value, value))
        # soft limit -> SIGXCPU (reported as cpu_limit); the hard limit is the SIGKILL backstop
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))

        os.chdir(spec["work_dir"])
        _drop_privileges(spec["uid"], spec["gid"])
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(FD_LOG, 1)
        os.dup2(FD_LOG, 2)
        sys.stdout = sys.stderr = _CappedWriter(1, int(limits["max_log_bytes"]))
        os.environ.clear()
        os.environ.update(
            {
                "HOME": spec["env_work_dir"],
                "TMPDIR": spec["env_work_dir"],
                "PATH": "/usr/bin:/bin",
                "LANG": "C.UTF-8",
            }
        )
        code = _simulate(spec)
    except MemoryError:
        _report({"ok": False, "code": "memory_limit", "message": "out of memory"}, 1 << 16)
    except BaseException as exc:
        message = _truncate(f"sandbox runner failed: {type(exc).__name__}: {exc}")
        _report({"ok": False, "code": "sandbox_error", "message": message}, 1 << 16)
    os._exit(code)


def _simulate(spec: dict[str, Any]) -> int:
    import fmpy
    import numpy as np

    limits = spec["limits"]
    status_cap = 1 << 16
    with os.fdopen(FD_REQUEST, "rb", closefd=False) as f:
        header = json.loads(f.readline())
        input_array = np.load(f, allow_pickle=False) if header.get("has_input") else None
    try:
        result = fmpy.simulate_fmu(
            spec["fmu_dir"],
            input=input_array,
            remote_platform=None,  # never start a remoting server (wine, 32-bit helper, ...)
            **header["kwargs"],
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


# --- the keeper (trusted, per run) ------------------------------------------------------------


def _install_fds(fds: list[int]) -> None:
    """Move the run's fds to FD_REQUEST.. and close everything else (control socket etc.)."""
    # park copies above the target range first: sources may sit on target numbers
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64) for fd in fds]
    for target, fd in zip(range(FD_REQUEST, FD_REQUEST + len(fds)), moved, strict=False):
        os.dup2(fd, target, inheritable=True)
        os.close(fd)
    os.closerange(FD_REQUEST + len(fds), 1 << 16)


def _keeper_main(
    spec: dict[str, Any], fds: list[int], plan: dict[str, Any], state: dict[str, Any]
) -> NoReturn:
    code = KEEPER_SETUP_FAILED
    try:
        runner_pid = 0
        kill_requested = False

        def on_kill(_sig: int, _frame: object) -> None:
            nonlocal kill_requested
            kill_requested = True
            if runner_pid > 0:
                for kill in (os.killpg, os.kill):  # the group catches forked grandchildren too
                    with contextlib.suppress(OSError):
                        kill(runner_pid, signal.SIGKILL)

        signal.signal(signal.SIGUSR1, on_kill)
        _install_fds(fds)
        null = os.open("/dev/null", os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.close(null)
        vm_baseline = _vm_bytes()

        if state["isolated"]:
            os.setsid()
            enter_isolation(
                plan,
                state["mountpoint"],
                spec["host_fmu_dir"],
                uid=spec["uid"],
                gid=spec["gid"],
                scratch_bytes=int(spec["limits"]["max_scratch_bytes"]),
            )
        else:
            os.setpgid(0, 0)
            # The unprivileged runner may not be able to walk the host path to the cache
            # (0700 parents); an fd opened now stays usable after the uid switch.
            fmu_fd = os.open(spec["host_fmu_dir"], os.O_RDONLY | os.O_DIRECTORY)
            if fmu_fd != FD_FMU_DIR:
                os.dup2(fmu_fd, FD_FMU_DIR)
                os.close(fmu_fd)
            spec["fmu_dir"] = f"/proc/self/fd/{FD_FMU_DIR}"
        if spec.get("probe"):
            os._exit(0)
        if kill_requested:
            os._exit(KEEPER_SIGNAL_BASE + signal.SIGKILL)
        code = KEEPER_FORK_FAILED
        runner_pid = os.fork()
        if runner_pid == 0:
            _runner_main(spec, vm_baseline)
        if kill_requested:
            on_kill(signal.SIGUSR1, None)
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid == runner_pid:
                if os.WIFSIGNALED(status):
                    code = KEEPER_SIGNAL_BASE + os.WTERMSIG(status)
                else:
                    code = min(os.waitstatus_to_exitcode(status), KEEPER_SIGNAL_BASE - 1)
                break
        if not state["isolated"]:
            # without a PID namespace, stray grandchildren must be killed by group
            with contextlib.suppress(OSError):
                os.killpg(runner_pid, signal.SIGKILL)
    except BaseException as exc:
        if code in (KEEPER_SETUP_FAILED, KEEPER_FORK_FAILED):
            message = _truncate(f"sandbox setup failed: {type(exc).__name__}: {exc}")
            _report({"ok": False, "code": "sandbox_error", "message": message}, 1 << 16)
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

    etree.XMLSchema = xml_schema


# --- the zygote -------------------------------------------------------------------------------


class _Run:
    __slots__ = (
        "client_gone",
        "deadline",
        "escalate_at",
        "pid",
        "pidfd",
        "sock",
        "started",
        "timed_out",
        "work_dir",
    )

    def __init__(self, pid: int, pidfd: int, sock: socket.socket, wall: float, work_dir: str):
        self.pid = pid
        self.pidfd = pidfd
        self.sock = sock
        self.started = time.monotonic()
        self.deadline = self.started + wall
        self.escalate_at: float | None = None
        self.timed_out = False
        self.client_gone = False
        self.work_dir = work_dir


class Zygote:
    def __init__(self, ctl: socket.socket, cfg: dict[str, Any], isolated: bool) -> None:
        self.ctl = ctl
        self.cfg = cfg
        self.isolated = isolated
        self.runs: dict[int, _Run] = {}
        self.counter = 0
        self.state: dict[str, Any] = {"isolated": isolated, "mountpoint": cfg["mountpoint"]}
        self.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY) if isolated else -1
        self.plan: dict[str, Any] = {}
        self.baseline_rss = 0

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

    def spawn(
        self, spec: dict[str, Any], fds: list[int], sock: socket.socket | None
    ) -> tuple[int, str]:
        """Fork a keeper for one run; returns (pid, insecure work dir or "")."""
        self.counter += 1
        work_dir = ""
        spec = dict(spec, uid=self.cfg["uid"], gid=self.cfg["gid"])
        if self.isolated:
            spec["work_dir"] = spec["env_work_dir"] = SANDBOX_WORK_DIR
            spec["fmu_dir"] = SANDBOX_FMU_DIR
        else:
            work_dir = os.path.join(self.cfg["state_dir"], f"run-{self.counter}")
            os.mkdir(work_dir, 0o700)
            if os.geteuid() == 0:
                os.chown(work_dir, self.cfg["uid"], self.cfg["gid"])
            spec["work_dir"] = work_dir
            spec["env_work_dir"] = "/proc/self/cwd"  # the host path may not be walkable
            spec["fmu_dir"] = spec["host_fmu_dir"]
        if self.isolated:
            unshare(CLONE_NEWPID)  # the next child becomes PID 1 of a fresh PID namespace
        try:
            pid = os.fork()
        except BaseException:
            if self.isolated:
                setns(self.pidns_fd, CLONE_NEWPID)
            raise
        if pid == 0:
            try:
                if sock is not None:
                    sock.close()
                _keeper_main(spec, fds, self.plan, self.state)
            finally:
                os._exit(KEEPER_SETUP_FAILED)
        if self.isolated:
            setns(self.pidns_fd, CLONE_NEWPID)
        return pid, work_dir

    def self_test(self) -> str | None:
        """Build one sandbox root without running anything; returns an error or None."""
        fds = []
        try:
            status_fd = os.memfd_create("probe-status")
            os.ftruncate(status_fd, 1 << 16)
            fds = [os.open("/dev/null", os.O_RDONLY), status_fd, status_fd, status_fd]
            probe_fmu = os.path.join(self.cfg["state_dir"], "probe-fmu")
            os.makedirs(probe_fmu, mode=0o755, exist_ok=True)
            spec = {
                "probe": True,
                "host_fmu_dir": probe_fmu,
                "limits": {"max_scratch_bytes": 1 << 20},
            }
            pid, _ = self.spawn(spec, fds, None)
            _, status = os.waitpid(pid, 0)
            if status == 0:
                return None
            raw = os.pread(status_fd, 1 << 16, 0).split(b"\0", 1)[0]
            try:
                return str(json.loads(raw)["message"])
            except (ValueError, KeyError, TypeError):
                return f"sandbox self-test failed with wait status {status}"
        except Exception as exc:
            return f"sandbox self-test failed: {type(exc).__name__}: {exc}"
        finally:
            for fd in set(fds):
                os.close(fd)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(self.cfg["state_dir"], "probe-fmu"))

    # -- event loop --

    def handle_request(self) -> bool:
        try:
            data, fds, flags, _ = socket.recv_fds(self.ctl, CONTROL_MSG_MAX, 8)
        except OSError:
            return False
        if not data:
            for fd in fds:
                os.close(fd)
            return False  # the worker closed the control socket: shut down
        if len(fds) != 5 or flags & socket.MSG_CTRUNC:
            for fd in fds:
                os.close(fd)
            return True
        sock = socket.socket(fileno=fds[0])
        run_fds = fds[1:]
        try:
            spec = json.loads(data)
            pid, work_dir = self.spawn(spec, run_fds, sock)
            pidfd = os.pidfd_open(pid)
        except Exception as exc:
            message = _truncate(f"could not start sandbox: {type(exc).__name__}: {exc}")
            self._send(sock, {"type": "done", "error": message})
            sock.close()
            return True
        finally:
            for fd in run_fds:  # the zygote never reads tenant data; only the keeper holds them
                os.close(fd)
        run = _Run(pid, pidfd, sock, float(spec["limits"]["wall_seconds"]), work_dir)
        self.runs[pid] = run
        try:
            socket.send_fds(sock, [_json_bytes({"type": "started"})], [pidfd])
        except OSError:
            run.client_gone = True
            self._kill(run, signal.SIGKILL)
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
        if run.work_dir:  # before replying, so the worker never sees a leftover
            shutil.rmtree(run.work_dir, ignore_errors=True)
        self._send(run.sock, msg)
        run.sock.close()
        os.close(run.pidfd)
        del self.runs[run.pid]

    def serve(self) -> None:
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
        for run in list(self.runs.values()):
            self._kill(run, signal.SIGKILL)
        for run in list(self.runs.values()):
            self.reap(run)


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

    error = "isolation disabled by configuration" if cfg.get("force_no_isolation") else None
    if error is None:
        error = _enter_launcher_namespaces()
    isolated = error is None
    if isolated:
        pid = os.fork()  # the child is PID 1 of the new namespace and becomes the zygote
        if pid:
            ctl.close()
            while True:
                try:
                    _, status = os.waitpid(pid, 0)
                    return os.waitstatus_to_exitcode(status) & 0xFF
                except ChildProcessError:
                    return 1
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    zygote = Zygote(ctl, cfg, isolated)
    hello: dict[str, Any] = {"type": "hello", "isolated": isolated, "reason": error or ""}
    try:
        if not cfg.get("probe_only"):
            zygote.warm_up()
        zygote.plan = build_mount_plan(cfg["extra_ro_paths"], cfg["forbidden_paths"])
        if isolated:
            error = zygote.self_test()
            if error is not None:
                isolated = zygote.isolated = zygote.state["isolated"] = False
                hello.update(isolated=False, reason=error)
    except Exception as exc:
        hello.update(ok=False, error=_truncate(f"{type(exc).__name__}: {exc}"))
        ctl.send(_json_bytes(hello))
        return 3
    zygote.baseline_rss = _rss_bytes()
    refused = not isolated and not cfg["allow_insecure"]
    hello.update(ok=not refused, plan=zygote.plan, euid=os.geteuid())
    if refused:
        hello["error"] = f"sandbox isolation unavailable: {hello['reason']}"
    ctl.send(_json_bytes(hello))
    if refused or cfg.get("probe_only"):
        return 0 if cfg.get("probe_only") else 3
    try:
        zygote.serve()
    finally:
        zygote.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
