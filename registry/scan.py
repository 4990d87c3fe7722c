"""Static security scan of an FMU that passed :func:`registry.inspection.inspect_fmu`.

Pure Python (no Django). The scan never rejects anything by itself: it reports findings
that the marketplace shows on the model card and that moderators / the sandbox policy use.

What is looked at:

* every shared object in the runtime platform folder (``binaries/linux64`` or
  ``binaries/x86_64-linux``), streamed into an anonymous temporary file and parsed with
  pyelftools: imported dynamic symbols (network, process spawning, dynamic code loading,
  privilege changes, file-system modification), ``DT_NEEDED`` libraries missing from the
  runtime, symbol versions newer than the runtime's glibc (``os.confstr``) or absent from
  the runtime's other libraries, relative ``RPATH``/``RUNPATH``, executable stacks and
  missing FMI entry points; thread creation, signals to other processes, memory files and
  shared memory are *info* findings (scored 0);
* the archive layout: executables (ELF / PE / Mach-O, by magic) outside ``binaries/``,
  ELF executables inside it, scripts (``.sh``, ``.py``, shebang files ...), Windows
  binaries outside ``binaries/win*``; sources and documentation are reported as info.

Risk score (0-100)::

    score = min(100, sum(WEIGHT[max severity of code c] for each distinct finding code c))
    WEIGHT = {critical: 50, high: 20, medium: 8, low: 2, info: 0}

Counting each code once (at its worst severity) keeps a binary importing twenty network
functions from scoring higher than one importing a single one; the categories, not the
symbol counts, describe the risk. ``risk_level`` is ``none`` (0), ``low`` (< 20),
``medium`` (< 40), ``high`` (< 70) or ``critical`` (>= 70).

Note: several commercial exporters (e.g. Dymola's license check) legitimately import
socket / process functions; the findings say what a binary *can* do, and the sandbox
(no network, no exec) is what makes running such FMUs safe. The scan reads imported symbols,
which a binary can avoid (raw system calls, symbols resolved at run time): it is best effort
and informs people; containment never relies on it.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from registry.inspection import (
    FmuInspection,
    InspectionError,
    read_entry_bounded,
    read_entry_head,
    sniff_binary,
)

SEVERITIES = ("critical", "high", "medium", "low", "info")
WEIGHTS: dict[str, int] = {"critical": 50, "high": 20, "medium": 8, "low": 2, "info": 0}
MAX_BINARY_SIZE = 1024**3

# Imported symbol -> category. Names are matched without version suffix.
NETWORK_SYMBOLS = frozenset(
    [
        "socket",
        "socketpair",
        "connect",
        "bind",
        "listen",
        "accept",
        "accept4",
        "getaddrinfo",
        "getnameinfo",
        "gethostbyname",
        "gethostbyname2",
        "gethostbyname_r",
        "gethostbyname2_r",
        "gethostbyaddr",
        "gethostbyaddr_r",
        "send",
        "sendto",
        "sendmsg",
        "sendmmsg",
        "recv",
        "recvfrom",
        "recvmsg",
        "recvmmsg",
        "res_query",
        "res_search",
        "res_nquery",
        "inet_connect",
    ]
)
NETWORK_PREFIXES = ("curl_", "SSL_connect", "BIO_new_connect")
SPAWN_SYMBOLS = frozenset(
    [
        "fork",
        "vfork",
        "clone",
        "clone3",
        "_Fork",
        "execve",
        "execveat",
        "fexecve",
        "execv",
        "execvp",
        "execvpe",
        "execl",
        "execlp",
        "execle",
        "system",
        "popen",
        "posix_spawn",
        "posix_spawnp",
        "daemon",
    ]
)
CODE_LOADING_SYMBOLS = frozenset(["dlopen", "dlmopen", "dlsym", "dlvsym"])
PRIVILEGE_SYMBOLS = frozenset(
    [
        "setuid",
        "setgid",
        "seteuid",
        "setegid",
        "setreuid",
        "setregid",
        "setresuid",
        "setresgid",
        "setgroups",
        "ptrace",
        "chroot",
        "pivot_root",
        "mount",
        "umount",
        "umount2",
        "unshare",
        "setns",
        "capset",
        "init_module",
        "finit_module",
        "delete_module",
    ]
)
FILESYSTEM_SYMBOLS = frozenset(
    [
        "unlink",
        "unlinkat",
        "remove",
        "rmdir",
        "rename",
        "renameat",
        "renameat2",
        "chmod",
        "fchmod",
        "fchmodat",
        "chown",
        "fchown",
        "lchown",
        "fchownat",
        "symlink",
        "symlinkat",
        "link",
        "linkat",
        "truncate",
        "mknod",
        "mknodat",
        "mkfifo",
    ]
)
# Informational only: worth knowing, and all contained by the run's sandbox (threads and
# memory count against the run's limits; the run cannot see other processes).
THREAD_SYMBOLS = frozenset(["pthread_create", "thrd_create"])
SIGNAL_SYMBOLS = frozenset(
    ["kill", "killpg", "tgkill", "tkill", "sigqueue", "pidfd_send_signal", "pidfd_open"]
)
MEMORY_FILE_SYMBOLS = frozenset(["memfd_create", "memfd_secret"])
SHARED_MEMORY_SYMBOLS = frozenset(["shm_open", "shm_unlink", "shmget", "shmat", "shmctl", "shmdt"])
_GLIBC_LIBS = frozenset(
    [
        "libc.so.6",
        "libm.so.6",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libresolv.so.2",
        "libutil.so.1",
        "ld-linux-x86-64.so.2",
        "libanl.so.1",
        "libnsl.so.1",
        "libcrypt.so.1",
    ]
)
_STD_LIB_DIRS = (
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
)
SCRIPT_SUFFIXES = frozenset(
    [
        ".sh",
        ".bash",
        ".zsh",
        ".csh",
        ".ksh",
        ".py",
        ".pyw",
        ".pl",
        ".rb",
        ".php",
        ".js",
        ".vbs",
        ".ps1",
        ".bat",
        ".cmd",
        ".jar",
        ".lua",
    ]
)
WINDOWS_BINARY_SUFFIXES = frozenset([".exe", ".dll", ".com", ".scr", ".msi", ".sys"])

# FMI entry points that must be exported for the binary to be loadable by an importer.
REQUIRED_EXPORTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("2", "ModelExchange"): ("fmi2Instantiate", "fmi2GetVersion"),
    ("2", "CoSimulation"): ("fmi2Instantiate", "fmi2DoStep"),
    ("3", "ModelExchange"): ("fmi3InstantiateModelExchange", "fmi3GetVersion"),
    ("3", "CoSimulation"): ("fmi3InstantiateCoSimulation", "fmi3DoStep"),
    ("3", "ScheduledExecution"): ("fmi3InstantiateScheduledExecution",),
    ("1", "ModelExchange"): ("{mi}_fmiInstantiateModel",),
    ("1", "CoSimulation"): ("{mi}_fmiInstantiateSlave", "{mi}_fmiDoStep"),
}


@dataclass
class FindingLocation:
    path: str | None = None  # entry path inside the archive
    symbol: str | None = None  # symbol(s), library or version concerned


@dataclass
class Finding:
    severity: str
    code: str
    title: str
    location: FindingLocation | None
    recommendation: str
    detail: str | None = None


@dataclass
class RuntimeInfo:
    platform: str
    glibc_version: str | None


@dataclass
class ScanReport:
    findings: list[Finding]
    risk_score: int
    risk_level: str
    runtime: RuntimeInfo
    scanned_binaries: list[str] = field(default_factory=list)
    duration_ms: float = 0.0

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = self.counts()
        return data


# --------------------------------------------------------------------------- runtime


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


@functools.cache
def runtime_glibc_version() -> str | None:
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")  # e.g. "glibc 2.36"
    except (ValueError, OSError, AttributeError):
        return None
    if not value:
        return None
    return value.split()[-1]


@functools.cache
def runtime_libraries() -> dict[str, str]:
    """soname -> path of the x86-64 libraries the dynamic loader can find (cached)."""
    found: dict[str, str] = {}
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        out = subprocess.run(
            [ldconfig, "-p"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        m = re.match(r"\s+(\S+) \(([^)]*)\) => (\S+)", line)
        if m and "x86-64" in m.group(2):
            found.setdefault(m.group(1), m.group(3))
    for folder in _STD_LIB_DIRS:  # ldconfig may be missing in slim images
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if ".so" in name:
                found.setdefault(name, os.path.join(folder, name))
    return found


@functools.cache
def _runtime_version_definitions(path: str) -> frozenset[str] | None:
    """Symbol versions (``GLIBCXX_3.4.29`` ...) that a runtime library defines."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerDefSection

    try:
        with open(path, "rb") as fh:
            elf = ELFFile(fh)
            names: set[str] = set()
            for section in elf.iter_sections():
                if isinstance(section, GNUVerDefSection):
                    for _verdef, auxiliaries in section.iter_versions():
                        names.update(aux.name for aux in auxiliaries)
            return frozenset(names)
    except Exception:  # unreadable runtime library: skip this check
        return None


# --------------------------------------------------------------------------- ELF


@dataclass
class _ElfFacts:
    imports: set[str]
    exports: set[str]
    needed: list[str]
    version_needs: dict[str, set[str]]  # library -> versions
    rpaths: list[str]
    exec_stack: bool


def _elf_facts(stream: IO[bytes]) -> _ElfFacts:
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection
    from elftools.elf.sections import SymbolTableSection

    elf = ELFFile(stream)
    imports: set[str] = set()
    exports: set[str] = set()
    needed: list[str] = []
    rpaths: list[str] = []
    version_needs: dict[str, set[str]] = {}
    for section in elf.iter_sections():
        if isinstance(section, SymbolTableSection) and section.name == ".dynsym":
            for sym in section.iter_symbols():
                if not sym.name:
                    continue
                if sym["st_shndx"] == "SHN_UNDEF":
                    imports.add(sym.name)
                elif sym["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK"):
                    exports.add(sym.name)
        elif isinstance(section, DynamicSection):
            for tag in section.iter_tags():
                kind = tag.entry.d_tag
                # pyelftools sets needed/rpath/runpath on the tags of those kinds only.
                if kind == "DT_NEEDED":
                    needed.append(tag.needed)  # type: ignore[attr-defined]
                elif kind == "DT_RPATH":
                    rpaths.extend(tag.rpath.split(":"))  # type: ignore[attr-defined]
                elif kind == "DT_RUNPATH":
                    rpaths.extend(tag.runpath.split(":"))  # type: ignore[attr-defined]
        elif isinstance(section, GNUVerNeedSection):
            for verneed, auxiliaries in section.iter_versions():
                if verneed.name:  # named from the string table (the type admits None)
                    version_needs.setdefault(verneed.name, set()).update(
                        a.name for a in auxiliaries if a.name
                    )
    exec_stack = any(
        seg.header.p_type == "PT_GNU_STACK" and seg.header.p_flags & 0x1
        for seg in elf.iter_segments()
    )
    return _ElfFacts(imports, exports, needed, version_needs, rpaths, exec_stack)


def _matching(
    imports: set[str], names: frozenset[str], prefixes: tuple[str, ...] = ()
) -> list[str]:
    return sorted(s for s in imports if s in names or (prefixes and s.startswith(prefixes)))


def _scan_elf(
    path: str,
    facts: _ElfFacts,
    inspection: FmuInspection,
    bundled: set[str],
    model_binary: bool,
) -> list[Finding]:
    findings: list[Finding] = []

    def add(
        sev: str, code: str, title: str, symbol: str | None, rec: str, detail: str | None = None
    ) -> None:
        findings.append(Finding(sev, code, title, FindingLocation(path, symbol), rec, detail))

    categories = [
        (
            "high",
            "network_access",
            "Binary imports network functions",
            _matching(facts.imports, NETWORK_SYMBOLS, NETWORK_PREFIXES),
            (
                "The sandbox runs FMUs without network access; calls will fail. Remove network "
                "code (e.g. license checks) or document why the model needs it."
            ),
        ),
        (
            "high",
            "process_spawn",
            "Binary can start other programs",
            _matching(facts.imports, SPAWN_SYMBOLS),
            "Spawning processes is blocked in the sandbox; a simulation model should not need it.",
        ),
        (
            "high",
            "privilege_change",
            "Binary imports privilege / process-control functions",
            _matching(facts.imports, PRIVILEGE_SYMBOLS),
            "Functions such as setuid, ptrace or mount have no place in a simulation model.",
        ),
        (
            "medium",
            "dynamic_code_loading",
            "Binary loads code at run time",
            _matching(facts.imports, CODE_LOADING_SYMBOLS),
            (
                "Only libraries shipped inside the FMU or present in the runtime can be loaded; "
                "make sure everything the model loads is bundled."
            ),
        ),
        (
            "low",
            "filesystem_modification",
            "Binary can delete, rename or change permissions of files",
            _matching(facts.imports, FILESYSTEM_SYMBOLS),
            (
                "The sandbox gives the FMU a private, temporary working directory; files written "
                "elsewhere are not kept."
            ),
        ),
        (
            "info",
            "thread_creation",
            "Binary creates threads",
            _matching(facts.imports, THREAD_SYMBOLS),
            "Threads are allowed; they count against the run's process and CPU limits.",
        ),
        (
            "info",
            "process_signals",
            "Binary can send signals to other processes",
            _matching(facts.imports, SIGNAL_SYMBOLS),
            "The sandbox runs each model in its own process namespace: it can only signal its "
            "own processes.",
        ),
        (
            "info",
            "memory_files",
            "Binary creates memory-backed files",
            _matching(facts.imports, MEMORY_FILE_SYMBOLS),
            "Memory files count against the run's memory limit.",
        ),
        (
            "info",
            "shared_memory",
            "Binary uses shared memory",
            _matching(facts.imports, SHARED_MEMORY_SYMBOLS),
            "Each run has its own IPC namespace: shared memory is private to the run.",
        ),
    ]
    for severity, code, title, symbols, rec in categories:
        if symbols:
            add(severity, code, title, ", ".join(symbols), rec)

    libraries = runtime_libraries()
    for lib in facts.needed:
        if lib in bundled or lib in libraries:
            continue
        add(
            "high",
            "missing_library",
            f"Required library {lib} is not available in the runtime",
            lib,
            f"Bundle {lib} next to the binary (with RPATH $ORIGIN) or link it statically; "
            "otherwise the FMU cannot be loaded.",
        )

    glibc = runtime_glibc_version()
    for lib, versions in sorted(facts.version_needs.items()):
        if lib in _GLIBC_LIBS:
            if glibc is None:
                continue
            too_new = sorted(
                (
                    v
                    for v in versions
                    if re.fullmatch(r"GLIBC_\d+(\.\d+)*", v)
                    and _version_tuple(v) > _version_tuple(glibc)
                ),
                key=_version_tuple,
            )
            if too_new:
                add(
                    "high",
                    "glibc_too_new",
                    f"Binary needs {too_new[-1]} but the runtime has glibc {glibc}",
                    too_new[-1],
                    "Rebuild the FMU on an older Linux distribution (or against an older glibc) "
                    "so it loads on the gateway runtime.",
                    f"{lib} versions required: {', '.join(too_new)}",
                )
            continue
        if lib in bundled or lib not in libraries:
            continue  # bundled: satisfied by the FMU itself; missing: reported above
        provided = _runtime_version_definitions(libraries[lib])
        if provided is None:
            continue
        missing = sorted(versions - provided, key=_version_tuple)
        if missing:
            add(
                "high",
                "symbol_version_unavailable",
                f"Binary needs {missing[-1]} from {lib}, which the runtime's {lib} lacks",
                missing[-1],
                f"Rebuild against an older toolchain or bundle a compatible {lib}.",
                f"missing versions: {', '.join(missing)}",
            )

    for rpath in facts.rpaths:
        if rpath and not rpath.startswith("$ORIGIN") and not rpath.startswith("${ORIGIN}"):
            absolute = rpath.startswith("/")
            add(
                "low",
                "unsafe_rpath",
                "Binary searches libraries in "
                + ("an absolute" if absolute else "a working-directory relative")
                + f" path ({rpath})",
                rpath,
                "Use RPATH $ORIGIN so only libraries shipped in the FMU are found.",
            )
    if facts.exec_stack:
        add(
            "low",
            "executable_stack",
            "Binary requests an executable stack",
            None,
            "Link with -z noexecstack; an executable stack weakens exploit mitigations.",
        )

    if model_binary:
        major = inspection.fmi_version.split(".")[0]
        for itf in inspection.interfaces:
            if not itf.runnable:
                continue
            wanted = [
                name.format(mi=itf.model_identifier)
                for name in REQUIRED_EXPORTS.get((major, itf.kind), ())
            ]
            absent = [name for name in wanted if name not in facts.exports]
            if absent and path == itf.library:
                add(
                    "high",
                    "missing_fmi_exports",
                    f"Binary does not export the {itf.kind} entry points",
                    ", ".join(absent),
                    "Export the FMI functions (check visibility flags and name prefixes); "
                    "the importer cannot instantiate the model otherwise.",
                )
    return findings


# --------------------------------------------------------------------------- archive


def _archive_findings(zf: zipfile.ZipFile, inspection: FmuInspection) -> list[Finding]:
    findings: list[Finding] = []
    macos_metadata = False
    sniffed = {b.path: b.format for b in inspection.binaries}
    elf_types = {b.path: b.elf_type for b in inspection.binaries}
    for entry in inspection.entries:
        name = entry.name
        parts = name.split("/")
        top = parts[0]
        suffix = PurePosixPath(name).suffix.lower()
        if top == "__MACOSX" or PurePosixPath(name).name.startswith("._"):
            macos_metadata = True
            continue
        if name in sniffed:
            fmt, elf_type, head = sniffed[name], elf_types[name], b""
        else:
            # Only the first bytes are decompressed: enough for magic numbers and shebangs.
            head = read_entry_head(zf, zf.getinfo(name), 64) if entry.size >= 4 else b""
            fmt, _cls, _machine, elf_type = sniff_binary(head)
        in_binaries = top == "binaries"
        in_win = in_binaries and len(parts) > 2 and ("win" in parts[1] or "windows" in parts[1])
        if fmt in ("elf", "pe", "macho") and not in_binaries:
            if fmt == "elf" and elf_type == "ET_REL":
                severity, what = "low", "ELF object file"
            elif fmt == "elf" and elf_type == "ET_EXEC":
                severity, what = "critical", "ELF executable"
            else:
                severity, what = "high", f"{fmt.upper()} executable or library"
            findings.append(
                Finding(
                    severity,
                    "binary_outside_binaries",
                    f"{what} outside binaries/",
                    FindingLocation(name, None),
                    "FMUs keep compiled code under binaries/<platform>/; remove this file or "
                    "explain why it is shipped.",
                )
            )
        elif in_binaries and fmt == "elf" and elf_type == "ET_EXEC":
            findings.append(
                Finding(
                    "medium",
                    "executable_in_binaries",
                    "ELF executable (not a library) in binaries/",
                    FindingLocation(name, None),
                    "FMU binaries are shared libraries; a helper program may be started by "
                    "the model, which the sandbox does not allow.",
                )
            )
        if suffix in WINDOWS_BINARY_SUFFIXES and not in_win and fmt != "elf":
            findings.append(
                Finding(
                    "medium" if suffix != ".exe" else "high",
                    "windows_binary_misplaced",
                    f"Windows binary ({suffix}) outside binaries/win*",
                    FindingLocation(name, None),
                    "Windows DLLs belong in binaries/win32, win64 or x86[_64]-windows.",
                )
            )
        elif in_binaries and suffix == ".exe":
            findings.append(
                Finding(
                    "medium",
                    "executable_in_binaries",
                    "Windows executable in binaries/",
                    FindingLocation(name, None),
                    "FMU binaries are libraries; executables suggest the model starts programs.",
                )
            )
        if suffix in SCRIPT_SUFFIXES or head.startswith(b"#!"):
            benign = top in ("sources", "documentation")
            findings.append(
                Finding(
                    "low" if benign else "medium",
                    "script_file",
                    f"Script file{' in ' + top + '/' if benign else ''}",
                    FindingLocation(name, None),
                    "Scripts are never executed by the gateway; remove them unless they are "
                    "part of the documented sources.",
                )
            )
    if macos_metadata:
        findings.append(
            Finding(
                "info",
                "macos_metadata",
                "The archive contains macOS metadata (__MACOSX/, ._ files)",
                FindingLocation("__MACOSX/", None),
                "Harmless; zip the FMU with a tool that omits resource forks.",
            )
        )
    if inspection.has_sources:
        findings.append(
            Finding(
                "info",
                "sources_included",
                "The FMU ships its source code",
                FindingLocation("sources/", None),
                "Buyers can review and rebuild the model; make sure you are allowed to publish it.",
            )
        )
    if inspection.has_documentation:
        findings.append(
            Finding(
                "info",
                "documentation_included",
                "The FMU ships documentation",
                FindingLocation("documentation/", None),
                "Documentation is shown to buyers as-is.",
            )
        )
    for itf in inspection.interfaces:
        if itf.library_renamed and itf.library:
            findings.append(
                Finding(
                    "low",
                    "binary_name_mismatch",
                    "The Linux binary is not named after the modelIdentifier",
                    FindingLocation(itf.library, itf.model_identifier),
                    f"The gateway loads the only Linux library for {itf.kind}; name it "
                    f"binaries/<platform>/{itf.model_identifier}.so so that other importers "
                    "find it too.",
                )
            )
    if not any(itf.runnable for itf in inspection.interfaces):
        linux_libs = [n for p in inspection.platforms if p.runnable for n in p.libraries]
        mismatch = bool(linux_libs)
        findings.append(
            Finding(
                "medium" if mismatch else "info",
                "binary_name_mismatch" if mismatch else "not_runnable",
                "The Linux binary is not named after the modelIdentifier"
                if mismatch
                else "No x86_64 Linux binary: the model cannot be run on the gateway",
                FindingLocation(linux_libs[0], None) if mismatch else None,
                "Name the library binaries/<platform>/<modelIdentifier>.so so importers find it."
                if mismatch
                else "Export the FMU with a linux64 / x86_64-linux binary.",
            )
        )
    return findings


# --------------------------------------------------------------------------- main


def risk_score(findings: list[Finding]) -> int:
    worst: dict[str, int] = {}
    for f in findings:
        worst[f.code] = max(worst.get(f.code, 0), WEIGHTS.get(f.severity, 0))
    return min(100, sum(worst.values()))


def risk_level(score: int) -> str:
    if score == 0:
        return "none"
    if score < 20:
        return "low"
    if score < 40:
        return "medium"
    if score < 70:
        return "high"
    return "critical"


def scan_fmu(path: Path, inspection: FmuInspection) -> ScanReport:
    """Scan an inspected FMU; never raises for findings, only for unreadable archives."""
    started = time.perf_counter()
    findings: list[Finding] = []
    scanned: list[str] = []
    with zipfile.ZipFile(path) as zf:
        findings.extend(_archive_findings(zf, inspection))
        model_names = {itf.library for itf in inspection.interfaces if itf.library}
        for plat in inspection.platforms:
            if not plat.runnable:
                continue
            bundled = {PurePosixPath(n).name for n in plat.libraries}
            for name in plat.libraries:
                info = zf.getinfo(name)
                with tempfile.TemporaryFile() as tmp:
                    try:
                        read_entry_bounded(zf, info, tmp, MAX_BINARY_SIZE)
                        tmp.seek(0)
                        facts = _elf_facts(tmp)
                    except InspectionError as exc:
                        findings.append(
                            Finding(
                                "medium",
                                "unreadable_binary",
                                "Binary could not be read for analysis",
                                FindingLocation(name, None),
                                "Re-export the FMU.",
                                exc.detail,
                            )
                        )
                        continue
                    except Exception as exc:  # hostile ELF: report, never crash
                        findings.append(
                            Finding(
                                "medium",
                                "unparseable_binary",
                                "Binary could not be analysed",
                                FindingLocation(name, None),
                                "Make sure the binary is a standard ELF shared library.",
                                f"{type(exc).__name__}: {exc}"[:500],
                            )
                        )
                        continue
                scanned.append(name)
                findings.extend(
                    _scan_elf(
                        name,
                        facts,
                        inspection,
                        bundled,
                        name in model_names,
                    )
                )
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(
        key=lambda f: (order.get(f.severity, 99), f.code, f.location.path if f.location else "")
    )
    score = risk_score(findings)
    return ScanReport(
        findings=findings,
        risk_score=score,
        risk_level=risk_level(score),
        runtime=RuntimeInfo("x86_64-linux", runtime_glibc_version()),
        scanned_binaries=scanned,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
