"""Control groups of the FMU sandbox: one group per run, its limits, usage and clean-up.

Loaded by ``_zygote.py`` (a standalone script): standard library only, no project imports.

Layout. At start the zygote launcher (still in the worker's PID namespace) creates one
directory per zygote, ``fmu-sandbox-<launcher pid>-<token>``, next to (v2) or under (v1) the
worker's own cgroup, and removes such directories left by launchers that no longer exist.
Every keeper (one per request, forked ahead as a "spare") gets a fresh group ``run-<n>`` in it:
the zygote creates it (~0.1 ms) and hands the keeper directory fds, which keep working after
the keeper pivots into its minimal root. The keeper moves its runner into the group before the
runner receives any run, so every process, thread and memory page the FMU creates is counted
there; the keeper itself stays outside. The zygote kills what is left and removes the group
once the keeper is gone.

v1 (hybrid hierarchies: ``memory``, ``pids``, ``cpuacct``) and v2 (unified, with ``memory`` and
``pids`` delegated) are chosen by probing; where neither works the sandbox falls back to
per-process rlimits (see ``_zygote.py``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import time
from typing import Any

PREFIX = "fmu-sandbox-"
V1_REQUIRED = ("memory", "pids", "cpuacct")
V2_REQUIRED = ("memory", "pids")


class CgroupError(OSError):
    pass


# --- discovery -------------------------------------------------------------------------------


def _own_cgroups() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) != 3:
                continue
            _, controllers, path = parts
            if not controllers:
                own[""] = path
            for name in controllers.split(","):
                if name and not name.startswith("name="):
                    own[name] = path
    return own


def _cgroup_mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount root, mount point, controllers) of every cgroup filesystem."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            try:
                sep = fields.index("-")
            except ValueError:
                continue
            fstype = fields[sep + 1]
            if fstype not in ("cgroup", "cgroup2"):
                continue
            options = set(fields[sep + 3].split(",")) if len(fields) > sep + 3 else set()
            root, point = fields[3], fields[4].replace("\\040", " ")
            mounts.append((fstype, root, point, options))
    return mounts


def _join(point: str, root: str, path: str) -> str | None:
    if root != "/":
        if not (path == root or path.startswith(root.rstrip("/") + "/")):
            return None
        path = path[len(root) :] or "/"
    return os.path.normpath(point + "/" + path.lstrip("/"))


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, data: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def _v1_bases() -> dict[str, str]:
    """Controller -> the worker's own v1 cgroup directory, for each needed hierarchy."""
    own = _own_cgroups()
    bases: dict[str, str] = {}
    for fstype, root, point, options in _cgroup_mounts():
        if fstype != "cgroup":
            continue
        for controller in V1_REQUIRED:
            if controller in options and controller in own and controller not in bases:
                joined = _join(point, root, own[controller])
                if joined is not None and os.path.isdir(joined):
                    bases[controller] = joined
    return bases


def _v2_base(configured: str | None) -> tuple[str | None, str]:
    """The v2 directory to create the sandbox's groups under, or (None, reason)."""
    candidates = []
    if configured:
        candidates.append(configured)
    else:
        own = _own_cgroups().get("")
        if own is None:
            return None, "no cgroup v2 membership"
        for fstype, root, point, _ in _cgroup_mounts():
            if fstype == "cgroup2":
                joined = _join(point, root, own)
                if joined is not None and os.path.isdir(joined):
                    # The worker's own group holds processes, so (no internal processes in v2)
                    # our groups go beside it, under its parent, which delegates to it.
                    candidates += [os.path.dirname(joined), joined]
                break
    for base in candidates:
        try:
            available = set(_read(os.path.join(base, "cgroup.subtree_control")).split())
        except OSError:
            continue
        if all(c in available for c in V2_REQUIRED) and os.access(base, os.W_OK):
            return base, ""
    return None, "no writable cgroup v2 directory delegates the memory and pids controllers"


# --- one run's group -------------------------------------------------------------------------


class RunGroup:
    """The group of one keeper's runs, usable through directory fds (also after pivot_root)."""

    def __init__(self, version: str, name: str, dirfds: dict[str, int]) -> None:
        self.version = version
        self.name = name
        self.dirfds = dirfds  # controller key -> O_DIRECTORY fd ("" for the one v2 directory)
        self._peak_fd = -1

    # file access relative to the group's directories
    def _fd(self, controller: str) -> int:
        return self.dirfds["" if self.version == "v2" else controller]

    def read(self, controller: str, name: str) -> str:
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self._fd(controller))
        try:
            return os.read(fd, 1 << 16).decode()
        finally:
            os.close(fd)

    def write(self, controller: str, name: str, value: str) -> None:
        fd = os.open(name, os.O_WRONLY | os.O_CLOEXEC, dir_fd=self._fd(controller))
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def exists(self, controller: str, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self._fd(controller))
            return True
        except OSError:
            return False

    @staticmethod
    def _field(text: str, key: str) -> int:
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == key:
                return int(parts[1])
        return 0

    # set-up (keeper, when its request arrives)
    def configure(self, memory_bytes: int, max_processes: int) -> None:
        memory = str(int(memory_bytes))
        if self.version == "v1":
            self.write("memory", "memory.limit_in_bytes", memory)
            if self.exists("memory", "memory.memsw.limit_in_bytes"):
                self.write("memory", "memory.memsw.limit_in_bytes", memory)  # no swap beyond it
            self.write("pids", "pids.max", str(int(max_processes)))
        else:
            self.write("memory", "memory.max", memory)
            if self.exists("memory", "memory.swap.max"):
                self.write("memory", "memory.swap.max", "0")
            if self.exists("memory", "memory.oom.group"):
                self.write("memory", "memory.oom.group", "1")  # an OOM kills the whole run
            self.write("pids", "pids.max", str(int(max_processes)))

    def move(self, pid: int) -> None:
        """Put ``pid`` (as this process sees it) and its future children into the group."""
        done = set()
        for key, fd in self.dirfds.items():
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) not in done:  # co-mounted controllers share a directory
                self.write(key or "memory", "cgroup.procs", str(pid))
                done.add((st.st_dev, st.st_ino))

    # usage
    def cpu_ns(self) -> int:
        if self.version == "v1":
            return int(self.read("cpuacct", "cpuacct.usage"))
        return self._field(self.read("memory", "cpu.stat"), "usage_usec") * 1000

    def reset_peak(self) -> None:
        with contextlib.suppress(OSError):
            if self.version == "v1":
                self.write("memory", "memory.max_usage_in_bytes", "0")
                if self.exists("memory", "memory.memsw.max_usage_in_bytes"):
                    self.write("memory", "memory.memsw.max_usage_in_bytes", "0")
            else:
                # Since Linux 6.12 a write resets the peak as read through the same fd.
                if self._peak_fd < 0:
                    self._peak_fd = os.open(
                        "memory.peak", os.O_RDWR | os.O_CLOEXEC, dir_fd=self._fd("memory")
                    )
                os.write(self._peak_fd, b"reset")

    def memory_peak(self) -> int:
        try:
            if self.version == "v1":
                peak = int(self.read("memory", "memory.max_usage_in_bytes"))
                with contextlib.suppress(OSError, ValueError):
                    peak = max(peak, int(self.read("memory", "memory.memsw.max_usage_in_bytes")))
                return peak
            if self._peak_fd >= 0:
                return int(os.pread(self._peak_fd, 64, 0))
            return int(self.read("memory", "memory.peak"))
        except (OSError, ValueError):
            return 0

    def events(self) -> dict[str, int]:
        """Counters that only grow: OOM kills and refused forks (pids limit reached)."""
        if self.version == "v1":
            oom = self._field(self.read("memory", "memory.oom_control"), "oom_kill")
        else:
            text = self.read("memory", "memory.events")
            oom = max(self._field(text, "oom_kill"), self._field(text, "oom_group_kill"))
        return {"oom_kill": oom, "pids_max": self._field(self.read("pids", "pids.events"), "max")}

    def procs(self) -> list[int]:
        text = self.read("memory" if self.version == "v1" else "", "cgroup.procs")
        return [int(p) for p in text.split()]

    def kill(self, spare: int = 0, timeout: float = 5.0, wait: bool = True) -> bool:
        """SIGKILL every process of the group (but ``spare``) until none is left; True then.

        v2 has ``cgroup.kill``; on v1 the list is read and killed again until it stays empty
        (a process forking meanwhile is caught in the next round; pids.max bounds them).
        ``wait=False``: one round, for a caller that then reaps its child and calls again.
        """
        deadline = time.monotonic() + (timeout if wait else 0.0)
        if self.version == "v2" and not spare and self.exists("", "cgroup.kill"):
            with contextlib.suppress(OSError):
                self.write("", "cgroup.kill", "1")
        while True:
            try:
                left = [pid for pid in self.procs() if pid != spare]
            except OSError:
                return True  # the group is gone
            if not left:
                return True
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.0005)

    def close(self) -> None:
        if self._peak_fd >= 0:
            os.close(self._peak_fd)
            self._peak_fd = -1
        for fd in self.dirfds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.dirfds = {}


# --- the zygote's groups ---------------------------------------------------------------------


class Cgroups:
    """The directories of one zygote (one per hierarchy) and the run groups in them."""

    def __init__(self, version: str, dirs: dict[str, str]) -> None:
        self.version = version
        self.dirs = dirs  # controller key -> this zygote's directory
        self.counter = 0
        self.groups: dict[str, RunGroup] = {}

    def describe(self) -> str:
        return f"cgroup {self.version}: " + ", ".join(sorted(set(self.dirs.values())))

    def new_group(self) -> RunGroup:
        self.counter += 1
        name = f"run-{self.counter}"
        fds: dict[str, int] = {}
        try:
            for base in dict.fromkeys(self.dirs.values()):
                os.mkdir(os.path.join(base, name), 0o755)
            for key, base in self.dirs.items():
                path = os.path.join(base, name)
                fds[key] = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            group = RunGroup(self.version, name, fds)
            self._remove(group)
            raise
        group = RunGroup(self.version, name, fds)
        self.groups[name] = group
        return group

    def remove(self, group: RunGroup) -> None:
        self.groups.pop(group.name, None)
        self._remove(group)

    def _remove(self, group: RunGroup) -> None:
        if group.dirfds:
            group.kill()
        group.close()
        for base in self.dirs.values():
            _rmdir(os.path.join(base, group.name))

    def close(self) -> None:
        for group in list(self.groups.values()):
            self.remove(group)
        for base in set(self.dirs.values()):
            _remove_tree(base)


def _rmdir(path: str, attempts: int = 200) -> None:
    """rmdir a cgroup; EBUSY while its last killed processes are still exiting."""
    for _ in range(attempts):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                return
        time.sleep(0.005)


def _remove_tree(path: str) -> None:
    """Remove a cgroup directory and its child groups (killing anything still in them)."""
    try:
        entries = [e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for child in entries:
        _remove_tree(child)
    try:
        for pid in _read(os.path.join(path, "cgroup.procs")).split():
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
    except OSError:
        pass
    _rmdir(path)


def _launcher_alive(name: str) -> bool:
    pid_text = name[len(PREFIX) :].split("-", 1)[0]
    if not pid_text.isdigit():
        return True  # not ours
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(parent: str) -> None:
    """Groups of launchers that died without cleaning up (SIGKILL): removed on the next start."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            if entry.name.startswith(PREFIX) and not _launcher_alive(entry.name):
                _remove_tree(entry.path)


def _probe(cg: Cgroups) -> None:
    """Create a group, limit it, move a child process into it, read it back, remove it."""
    group = cg.new_group()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(write_fd)
            os.read(read_fd, 1)
        finally:
            os._exit(0)
    os.close(read_fd)
    try:
        group.configure(64 << 20, 4)
        group.move(pid)
        if group.procs() != [pid]:
            raise CgroupError(errno.EIO, "a process moved into the group is not listed in it")
        group.cpu_ns()
        group.events()
    finally:
        os.close(write_fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        cg.remove(group)
    cg.counter = 0


def setup(mode: str = "auto", v2_parent: str | None = None) -> tuple[Cgroups | None, str]:
    """Probe and create this zygote's cgroup directories; (None, reason) when unavailable.

    Call in the launcher, before it enters new namespaces (it names the directory after its
    own PID and checks other launchers' PIDs).
    """
    if mode == "off":
        return None, "cgroups disabled by configuration"
    name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    reasons = []
    v1 = _v1_bases()
    if all(c in v1 for c in V1_REQUIRED):
        cg = _create("v1", {c: os.path.join(base, name) for c, base in v1.items()}, v1)
        if isinstance(cg, Cgroups):
            return cg, ""
        reasons.append(f"v1: {cg}")
    else:
        reasons.append("v1: no writable memory, pids and cpuacct hierarchies")
    base, reason = _v2_base(v2_parent)
    if base is not None:
        cg = _create("v2", {"": os.path.join(base, name)}, {"": base})
        if isinstance(cg, Cgroups):
            return cg, ""
        reasons.append(f"v2: {cg}")
    else:
        reasons.append(f"v2: {reason}")
    return None, "; ".join(reasons)


def _create(version: str, dirs: dict[str, str], parents: dict[str, str]) -> Cgroups | str:
    for parent in set(parents.values()):
        _remove_stale(parent)
    made: list[str] = []
    cg = Cgroups(version, dirs)
    try:
        for path in dict.fromkeys(dirs.values()):
            os.mkdir(path, 0o755)
            made.append(path)
        if version == "v2":
            wanted = " ".join(f"+{c}" for c in (*V2_REQUIRED, "cpu"))
            try:
                _write(os.path.join(dirs[""], "cgroup.subtree_control"), wanted)
            except OSError:  # cpu is optional (usage is in cpu.stat anyway)
                _write(os.path.join(dirs[""], "cgroup.subtree_control"), "+memory +pids")
        _probe(cg)
    except OSError as exc:
        for path in reversed(made):
            _remove_tree(path)
        return f"{type(exc).__name__}: {exc}"
    return cg


def to_wire(cg: Cgroups | None) -> dict[str, Any]:
    return {"version": cg.version, "dirs": cg.dirs} if cg else {"version": "none"}
