"""Synchronous inspection of an uploaded FMU archive (pure Python, no Django).

:func:`inspect_fmu` runs *before* anything is stored: it either returns an
:class:`FmuInspection` (the facts behind the model card) or raises
:class:`InspectionError` with a stable snake_case ``code`` and a sentence a creator
understands. It never extracts the archive to disk as a whole and never reads an entry
wholly into memory: ``modelDescription.xml`` is read by a streaming reader
(``registry.description_reader``) whose memory does not grow with the document's tree, so a
description with 100,000 variables costs the web process a second and a few MB; only a
description up to ``InspectionLimits.full_validation_max_bytes`` is also handed whole to fmpy
(its own checks and messages). Linux binaries are streamed into an anonymous temporary file
(deleted on close) so pyelftools can seek.

Order of the checks (the first fatal problem wins), from "this is not an FMU archive"
to "this FMU cannot run here":

1. archive: ``not_a_zip``, ``too_many_entries`` (read from the end-of-central-directory
   record before the central directory is parsed), ``unsafe_path``, ``symlink_entry``,
   ``special_file``, ``duplicate_entry`` (the same name twice with different content; an
   identical copy, e.g. a folder added twice, is a warning), ``encrypted_entry``,
   ``unsupported_compression``, ``zip_bomb`` (declared sizes, ratios, the total expanded
   size ``max_total_uncompressed``, overlapping entries), ``corrupt_archive``;
2. model description: ``missing_model_description``, ``model_description_too_large``,
   ``xml_entities_forbidden`` (any DOCTYPE is refused by defusedxml *before* anything
   else parses the bytes), ``malformed_model_description``, ``unsupported_fmi_version``
   (released 1.0, 2.0, 3.x only), ``invalid_model_description`` (fmpy's schema/semantic
   validation and message; for descriptions too large for fmpy, the FMI schema checked while
   streaming and what would stop fmpy from reading it);
3. implementation: ``missing_binary`` (no binary for any declared modelIdentifier on any
   platform and no sources), ``invalid_elf`` (an x86_64-linux ``.so`` that is not a
   valid x86-64 ELF shared object);
4. model structure: fmpy's model-structure findings (incomplete ``Outputs`` or
   ``InitialUnknowns``...) are warnings: fmpy does not check them when it loads a model and
   simulates such FMUs;
5. platform policy: ``no_linux_binary``.

Decisions for the negative FMUs of ``../shared/fmus``:

* ``negative/empty_file/illegal.fmu`` -> ``not_a_zip`` (0 bytes).
* ``negative/malformed/MalFormed.fmu`` -> ``no_linux_binary``: its XML is well formed and
  schema-valid; its ``ModelStructure/Outputs`` does not list every output, which is a
  warning (see 4); it ships Windows binaries only.
* ``negative/xml_only/pump_mocked.fmu`` -> ``missing_binary`` (only modelDescription.xml).
* ``negative/win_only/bouncingBall_FMUSDK_cs.fmu`` -> ``no_linux_binary``. It is a
  legitimate FMU, but the gateway executes FMUs only on x86_64 Linux and does not
  compile shipped sources at upload time, so a model that can never be run is refused
  up front with a specific, actionable reason (re-export with a ``linux64`` /
  ``x86_64-linux`` binary). The same applies to sources-only FMUs. Set
  ``InspectionLimits(require_linux_binary=False)`` to accept such FMUs with a warning
  instead (e.g. a future "catalogue only" listing).

The Overture FMU passes: its description is valid and it ships an x86-64 shared object; that
it never finishes when simulated is the sandbox's business. The 20-sim ``singlewatertank``
and INTO-CPS ``watertankcontroller`` FMUs name their library after the file
(``singlewatertank-20sim.so``) rather than the modelIdentifier (``SingleWatertank``): when a
runtime folder holds exactly one shared library, the interface is runnable with that
``library`` (``library_renamed``), a warning says so, and the sandbox's extraction links the
library under the expected name (``fmusandbox.cache``); with several libraries and none
named after the modelIdentifier the interface is not runnable. Windows/macOS names are
matched case-insensitively, Linux names exactly. Interfaces the runner cannot execute (FMI 3
Scheduled Execution) are named with ``supported=False`` and a warning.
"""

from __future__ import annotations

import hashlib
import io
import re
import stat
import tempfile
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal, Protocol
from xml.etree.ElementTree import Element

from registry.description_reader import (
    DescriptionFacts,
    ReaderError,
    Variable,  # noqa: F401 - part of this module's interface (the model card's rows)
    VariableTable,
    read_description,
    validate_schema,
)

MODEL_DESCRIPTION = "modelDescription.xml"
RUNTIME_PLATFORM = "x86_64-linux"  # the only platform the gateway executes FMUs on

#: FMI 1.0/2.0 binary folder names -> FMI 3.0 ``<arch>-<os>`` names.
LEGACY_PLATFORMS: dict[str, str] = {
    "win32": "x86-windows",
    "win64": "x86_64-windows",
    "linux32": "x86-linux",
    "linux64": "x86_64-linux",
    "darwin32": "x86-darwin",
    "darwin64": "x86_64-darwin",
}
SHARED_LIBRARY_SUFFIX: dict[str, str] = {
    "linux": ".so",
    "windows": ".dll",
    "darwin": ".dylib",
}

_CHUNK = 1024 * 1024
_MAX_DETAIL = 2000
_ELF_MAGIC = b"\x7fELF"
_DF_1_PIE = 0x08000000
_SUPPORTED_COMPRESSION = {
    zipfile.ZIP_STORED,
    zipfile.ZIP_DEFLATED,
    zipfile.ZIP_BZIP2,
    zipfile.ZIP_LZMA,
}
_LOCAL_HEADER_MIN = 30  # fixed part of a zip local file header
#: Interfaces the sandbox's runner (fmpy's simulate_fmu) can execute.
SUPPORTED_INTERFACES = frozenset({"ModelExchange", "CoSimulation"})
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


# --------------------------------------------------------------------------- errors


#: Every code :func:`inspect_fmu` can raise, with its meaning (shown in API docs).
ERROR_CODES: dict[str, str] = {
    "not_a_zip": "The file is empty or not a ZIP archive.",
    "too_many_entries": "The archive contains more entries than allowed.",
    "unsafe_path": "An entry name is absolute, contains '..', a backslash or control chars.",
    "symlink_entry": "An entry is a symbolic link.",
    "special_file": "An entry is a device, FIFO or socket.",
    "duplicate_entry": "Two entries have the same name.",
    "encrypted_entry": "An entry is encrypted.",
    "unsupported_compression": "An entry uses a compression method that cannot be read.",
    "zip_bomb": "Declared/actual sizes, compression ratios or overlapping entries exceed limits.",
    "corrupt_archive": "The archive is damaged (bad CRC, truncated data, bad headers).",
    "missing_model_description": "There is no modelDescription.xml at the archive root.",
    "model_description_too_large": "modelDescription.xml exceeds the size limit.",
    "xml_entities_forbidden": "modelDescription.xml has a DOCTYPE, entity or external reference.",
    "malformed_model_description": "modelDescription.xml is not well-formed XML.",
    "unsupported_fmi_version": "The fmiVersion is missing or not 1.0, 2.0 or 3.x.",
    "invalid_model_description": "fmpy cannot read or validate the model description.",
    "missing_binary": "No binary for any declared modelIdentifier and no sources.",
    "invalid_elf": "An x86_64-linux binary is not a valid x86-64 ELF shared object.",
    "no_linux_binary": "The FMU has no x86_64 Linux binary, so the gateway cannot run it.",
}


class InspectionError(Exception):
    """A fatal problem: the upload must be rejected and nothing kept."""

    def __init__(self, code: str, detail: str, location: str | None = None) -> None:
        assert code in ERROR_CODES, code
        self.code = code
        self.detail = detail if len(detail) <= _MAX_DETAIL else detail[:_MAX_DETAIL] + "…"
        self.location = location
        super().__init__(f"{code}: {self.detail}")

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "location": self.location}


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class InspectionLimits:
    max_entries: int = 10_000
    # What the archive may expand to in all (UPLOAD_MAX_EXPANDED_BYTES): large Dymola FMUs
    # are ~100 MB; the ratio check alone would let a 25 MB upload declare 5 GB.
    max_total_uncompressed: int = 1024**3
    max_entry_uncompressed: int = 1024**3
    # Deflate tops out near 1032:1; real binaries/sources compress 2-10:1. Only entries
    # above ``ratio_min_size`` are checked so tiny, highly repetitive files do not trip it.
    max_compression_ratio: float = 200.0
    ratio_min_size: int = 1024**2
    max_model_description_size: int = 16 * 1024**2
    # Up to this size fmpy itself reads and validates the description (its messages, its
    # model-structure findings); larger ones are read by the streaming reader and checked
    # against the schema, and fmpy's full check runs in the validation job instead.
    full_validation_max_bytes: int = 2 * 1024**2
    max_name_length: int = 1024
    require_linux_binary: bool = True


DEFAULT_LIMITS = InspectionLimits()


# --------------------------------------------------------------------------- result


@dataclass
class ArchiveEntry:
    name: str
    size: int
    compressed_size: int


@dataclass
class Interface:
    kind: str  # ModelExchange | CoSimulation | ScheduledExecution
    model_identifier: str
    runnable: bool  # has an x86_64-linux binary
    needs_execution_tool: bool = False
    can_get_and_set_fmu_state: bool = False
    can_handle_variable_step_size: bool | None = None  # CoSimulation only
    # The x86_64-linux library loaded for it: <modelIdentifier>.so, or the only library of
    # the folder when it is named otherwise (see ``library_renamed``).
    library: str | None = None
    library_renamed: bool = False
    supported: bool = True  # the gateway's runner can execute this kind of interface


@dataclass
class Platform:
    name: str  # FMI 3 style, e.g. x86_64-linux
    folder: str  # raw folder under binaries/, e.g. linux64
    arch: str
    os: str
    files: list[str] = field(default_factory=list)  # entry names under the folder
    libraries: list[str] = field(default_factory=list)  # shared libraries among ``files``
    model_identifiers: list[str] = field(default_factory=list)  # with a matching binary
    runnable: bool = False  # the gateway can execute FMUs built for this platform


@dataclass
class BinaryInfo:
    path: str
    platform: str
    size: int
    format: str  # elf | pe | macho | unknown
    elf_class: int | None = None  # 32 | 64
    machine: str | None = None  # e.g. EM_X86_64
    elf_type: str | None = None  # e.g. ET_DYN


@dataclass
class DefaultExperiment:
    start_time: float | None = None
    stop_time: float | None = None
    tolerance: float | None = None
    step_size: float | None = None


@dataclass
class FmuInspection:
    sha256: str
    size: int
    fmi_version: str
    model_name: str
    instantiation_token: str | None
    generation_tool: str | None
    generation_date: str | None
    description: str | None
    author: str | None
    version: str | None
    copyright: str | None
    license: str | None
    variable_naming_convention: str | None
    interfaces: list[Interface]
    platforms: list[Platform]
    binaries: list[BinaryInfo]
    has_sources: bool
    has_documentation: bool
    default_experiment: DefaultExperiment | None
    variables: VariableTable  # iterable, spooled: not part of ``to_dict``
    model_description_sha256: str
    model_description_size: int
    number_of_continuous_states: int
    number_of_event_indicators: int
    total_uncompressed_size: int
    entries: list[ArchiveEntry]
    warnings: list[str] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        return any(i.runnable and i.supported for i in self.interfaces)

    @property
    def number_of_variables(self) -> int:
        return len(self.variables)

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON-able data, without the variables (a table of their own)."""
        variables, self.variables = self.variables, None  # type: ignore[assignment]
        try:
            data = asdict(self)
        finally:
            self.variables = variables
        del data["variables"]
        data["runnable"] = self.runnable
        data["number_of_variables"] = self.number_of_variables
        return data


# --------------------------------------------------------------------------- helpers


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def platform_of_folder(folder: str) -> tuple[str, str, str]:
    """``linux64`` -> (``x86_64-linux``, ``x86_64``, ``linux``); FMI 3 names pass through."""
    name = LEGACY_PLATFORMS.get(folder, folder)
    arch, _, os_name = name.partition("-")
    return name, arch, os_name


def is_shared_object_name(name: str) -> bool:
    base = PurePosixPath(name).name
    return base.endswith(".so") or ".so." in base


def _declared_entry_count(fh: IO[bytes]) -> int | None:
    # Read the count from the end-of-central-directory record so a 100k-entry archive
    # is refused before zipfile builds 100k ZipInfo objects.
    try:
        endrec = zipfile._EndRecData(fh)  # type: ignore[attr-defined]
    except (OSError, AttributeError):
        return None
    if not endrec:
        return None
    return int(endrec[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore[attr-defined]


def _check_name(info: zipfile.ZipInfo, limits: InspectionLimits) -> None:
    raw = info.orig_filename
    name = info.filename
    if "\x00" in raw or any(ord(c) < 32 for c in name):
        raise InspectionError("unsafe_path", "An entry name contains control characters.", name)
    if len(name) > limits.max_name_length:
        raise InspectionError("unsafe_path", "An entry name is unreasonably long.", name[:200])
    if "\\" in raw:
        # Backslashes are path separators for Windows extractors: "..\\x" escapes there.
        raise InspectionError(
            "unsafe_path", f"The entry name {raw!r} contains a backslash; use '/'.", raw
        )
    if name.startswith("/") or _DRIVE_RE.match(name):
        raise InspectionError(
            "unsafe_path",
            f"The entry {name!r} has an absolute path; FMU paths are relative.",
            name,
        )
    if ".." in name.split("/"):
        raise InspectionError(
            "unsafe_path",
            f"The entry {name!r} points outside the archive ('..').",
            name,
        )
    # Unix mode lives in the high 16 bits; only the file-type bits matter here. Tools
    # that do not set a mode leave them 0, which is a regular file.
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InspectionError(
            "symlink_entry",
            f"The entry {name!r} is a symbolic link, which is not allowed.",
            name,
        )
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise InspectionError(
            "special_file",
            f"The entry {name!r} is a device, pipe or socket file.",
            name,
        )


def _check_archive(
    zf: zipfile.ZipFile, file_size: int, limits: InspectionLimits
) -> tuple[list[ArchiveEntry], int, list[str]]:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise InspectionError(
            "too_many_entries",
            f"The archive has {len(infos)} entries; at most {limits.max_entries} are allowed.",
        )
    seen: dict[str, zipfile.ZipInfo] = {}
    folded: dict[str, str] = {}
    warnings: list[str] = []
    repeated: list[str] = []
    entries: list[ArchiveEntry] = []
    total = 0
    for info in infos:
        _check_name(info, limits)
        name = info.filename
        first = seen.get(name)
        if first is None:
            seen[name] = info
        elif not _same_content(zf, first, info, limits):
            raise InspectionError(
                "duplicate_entry",
                f"The archive contains {name!r} more than once, with different content.",
                name,
            )
        elif name not in repeated:
            repeated.append(name)
        lower = name.lower()
        if lower in folded and folded[lower] != name:
            warnings.append(
                f"entries {folded[lower]!r} and {name!r} differ only by case; they collide on "
                "case-insensitive file systems"
            )
        folded.setdefault(lower, name)
        if info.flag_bits & 0x1:
            raise InspectionError("encrypted_entry", f"The entry {name!r} is encrypted.", name)
        if info.compress_type not in _SUPPORTED_COMPRESSION:
            raise InspectionError(
                "unsupported_compression",
                f"The entry {name!r} uses compression method {info.compress_type}; "
                "FMUs must use 'stored' or 'deflate'.",
                name,
            )
        if info.file_size > limits.max_entry_uncompressed:
            raise InspectionError(
                "zip_bomb",
                f"The entry {name!r} declares {info.file_size} bytes uncompressed; "
                f"the limit per entry is {limits.max_entry_uncompressed}.",
                name,
            )
        if info.file_size > limits.ratio_min_size:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_compression_ratio:
                raise InspectionError(
                    "zip_bomb",
                    f"The entry {name!r} expands {ratio:.0f}:1 (limit "
                    f"{limits.max_compression_ratio:.0f}:1); this looks like a zip bomb.",
                    name,
                )
        total += info.file_size
        if total > limits.max_total_uncompressed:
            raise InspectionError(
                "zip_bomb",
                f"The archive declares more than {limits.max_total_uncompressed} bytes "
                "uncompressed; this is over the limit (or a zip bomb).",
            )
        if not info.is_dir() and first is None:
            entries.append(ArchiveEntry(name, info.file_size, info.compress_size))
    if repeated:
        shown = ", ".join(repr(name) for name in repeated[:5])
        more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
        warnings.append(
            f"the archive stores {shown}{more} more than once with identical content; "
            "each is used once"
        )

    # Overlapping entries (several central-directory records sharing compressed data)
    # are the trick behind non-recursive zip bombs; entries also must fit in the file.
    end = min(getattr(zf, "start_dir", file_size), file_size)
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for cur, nxt in zip(ordered, [*ordered[1:], None], strict=True):
        limit = nxt.header_offset if nxt is not None else end
        if cur.header_offset + _LOCAL_HEADER_MIN + cur.compress_size > limit:
            if nxt is not None and nxt.header_offset < end:
                raise InspectionError(
                    "zip_bomb",
                    f"The entries {cur.filename!r} and {nxt.filename!r} overlap in the archive.",
                    cur.filename,
                )
            raise InspectionError(
                "corrupt_archive",
                f"The entry {cur.filename!r} extends past the end of its data area.",
                cur.filename,
            )
    return entries, total, warnings


def _same_content(
    zf: zipfile.ZipFile, first: zipfile.ZipInfo, again: zipfile.ZipInfo, limits: InspectionLimits
) -> bool:
    """Whether two entries of the same name hold the same bytes (some exporters add a folder
    twice). Sizes and CRCs first; equal ones are compared byte for byte, since a CRC is easy
    to forge and the two copies must not differ for the validator and the runtime."""
    if first.is_dir() or again.is_dir():
        return first.is_dir() and again.is_dir()
    if (first.file_size, first.CRC) != (again.file_size, again.CRC):
        return False
    digests = []
    for info in (first, again):
        sink = _HashingSink(hashlib.sha256())
        read_entry_bounded(zf, info, sink, limits.max_entry_uncompressed)
        digests.append(sink.digest.digest())
    return digests[0] == digests[1]


class _HashingSink:
    """A write-only sink that hashes what it receives and passes it on to ``target``."""

    def __init__(self, digest: Any, target: IO[bytes] | None = None) -> None:
        self.digest = digest
        self.target = target

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        if self.target is not None:
            self.target.write(data)
        return len(data)


class Sink(Protocol):
    """Where ``read_entry_bounded`` writes: a binary file, or a ``_HashingSink``."""

    def write(self, data: bytes, /) -> object: ...


def read_entry_bounded(zf: zipfile.ZipFile, info: zipfile.ZipInfo, sink: Sink, cap: int) -> int:
    """Stream one entry into ``sink`` reading at most ``cap`` bytes; return the size.

    zipfile already stops at the declared size and checks the CRC, so a lying header
    shows up as ``corrupt_archive``; ``cap`` bounds what we accept even so.
    """
    total = 0
    try:
        with zf.open(info) as src:
            while True:
                chunk = src.read(min(_CHUNK, cap + 1 - total))
                if not chunk:
                    break
                total += len(chunk)
                if total > cap:
                    raise InspectionError(
                        "zip_bomb",
                        f"The entry {info.filename!r} decompresses to more than {cap} bytes.",
                        info.filename,
                    )
                sink.write(chunk)
    except InspectionError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise InspectionError(
            "corrupt_archive",
            f"The entry {info.filename!r} cannot be read: {exc}",
            info.filename,
        ) from exc
    except (NotImplementedError, RuntimeError) as exc:  # unknown method / encryption
        raise InspectionError(
            "unsupported_compression",
            f"The entry {info.filename!r} cannot be decompressed: {exc}",
            info.filename,
        ) from exc
    return total


def read_entry_head(zf: zipfile.ZipFile, info: zipfile.ZipInfo, n: int = 64) -> bytes:
    if info.file_size == 0:
        return b""
    buf = io.BytesIO()
    try:
        with zf.open(info) as src:
            buf.write(src.read(n))  # decompresses only the first block(s)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise InspectionError(
            "corrupt_archive",
            f"The entry {info.filename!r} cannot be read: {exc}",
            info.filename,
        ) from exc
    except (NotImplementedError, RuntimeError) as exc:
        raise InspectionError(
            "unsupported_compression",
            f"The entry {info.filename!r}: {exc}",
            info.filename,
        ) from exc
    return buf.getvalue()


_EM_NAMES = {
    3: "EM_386",
    40: "EM_ARM",
    62: "EM_X86_64",
    183: "EM_AARCH64",
    243: "EM_RISCV",
}
_ET_NAMES = {1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}


def sniff_binary(head: bytes) -> tuple[str, int | None, str | None, str | None]:
    """(format, elf_class, machine, elf_type) from the first bytes of a file."""
    if head[:4] == _ELF_MAGIC and len(head) >= 20:
        elf_class = {1: 32, 2: 64}.get(head[4])
        order: Literal["little", "big"] = "little" if head[5] == 1 else "big"
        e_type = int.from_bytes(head[16:18], order)
        e_machine = int.from_bytes(head[18:20], order)
        machine = _EM_NAMES.get(e_machine, f"EM_{e_machine}")
        return "elf", elf_class, machine, _ET_NAMES.get(e_type, f"ET_{e_type}")
    if head[:2] == b"MZ":
        return "pe", None, None, None
    if head[:4] in (
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",
    ):
        return "macho", None, None, None
    return "unknown", None, None, None


def validate_elf_shared_object(stream: IO[bytes], name: str) -> None:
    """Raise ``invalid_elf`` unless ``stream`` is a loadable x86-64 ELF shared object."""
    from elftools.elf.dynamic import Dynamic
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import Section
    from elftools.elf.segments import Segment

    def bad(why: str) -> InspectionError:
        return InspectionError(
            "invalid_elf",
            f"The Linux binary {name!r} {why}; it must be an x86-64 ELF shared library (.so).",
            name,
        )

    stream.seek(0)
    if stream.read(4) != _ELF_MAGIC:
        raise bad("is not an ELF file")
    stream.seek(0)
    try:
        elf = ELFFile(stream)
        if elf.elfclass != 64:
            raise bad(f"is a {elf.elfclass}-bit ELF file")
        machine = elf.header["e_machine"]
        if machine != "EM_X86_64":
            raise bad(f"is built for {machine}, not x86-64")
        e_type = elf.header["e_type"]
        if e_type != "ET_DYN":
            kind = "an executable" if e_type == "ET_EXEC" else f"of type {e_type}"
            raise bad(f"is {kind}, not a shared object")
        dynamic: Section | Segment | None = elf.get_section_by_name(".dynamic")
        if dynamic is None:
            dynamic = next(
                (s for s in elf.iter_segments() if s.header["p_type"] == "PT_DYNAMIC"),
                None,
            )
        if not isinstance(dynamic, Dynamic):  # None, or a .dynamic that is not of that type
            raise bad("has no dynamic section")
        for tag in dynamic.iter_tags():
            if tag.entry.d_tag == "DT_FLAGS_1" and tag.entry.d_val & _DF_1_PIE:
                raise bad("is a position-independent executable (cannot be dlopen()ed)")
    except InspectionError:
        raise
    except Exception as exc:  # pyelftools raises many exception types on garbage input
        raise bad(f"cannot be parsed ({type(exc).__name__}: {exc})") from exc


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _check_fmi_version(root: Element) -> str:
    """Called by the streaming reader with the root element (its attributes) on its start."""
    if root.tag != "fmiModelDescription":
        raise InspectionError(
            "invalid_model_description",
            f"The root element of modelDescription.xml is <{root.tag}>, "
            "expected <fmiModelDescription>.",
            MODEL_DESCRIPTION,
        )
    version = (root.get("fmiVersion") or "").strip()
    # Released versions only: pre-releases ("3.0-beta.3") differ from the standard, and the
    # version must fit the model card's column (8 characters).
    if version in ("1.0", "2.0") or re.fullmatch(r"3\.\d{1,2}(\.\d{1,3})?", version):
        return version
    if re.match(r"3\.\d+", version):
        detail = (
            f"fmiVersion {version[:40]!r} is a pre-release or unknown revision of FMI 3; "
            "export the model as FMI 3.0 (or 2.0)."
        )
    elif version:
        detail = f"fmiVersion {version[:40]!r} is not supported; use FMI 1.0, 2.0 or 3.0."
    else:
        detail = "modelDescription.xml has no fmiVersion attribute."
    raise InspectionError("unsupported_fmi_version", detail, MODEL_DESCRIPTION)


def _fmpy_read(xml: bytes) -> Any:
    """Let fmpy build (and schema-validate) the model from the already-vetted bytes."""
    from fmpy import read_model_description

    # fmpy reads from a zip: hand it a throwaway in-memory zip with only the XML.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as mem:
        mem.writestr(MODEL_DESCRIPTION, xml)
    buf.seek(0)
    try:
        return read_model_description(buf, validate=True)
    except Exception as exc:  # fmpy raises ValidationError, Exception, KeyError, ...
        message = str(exc).strip() or type(exc).__name__
        raise InspectionError(
            "invalid_model_description",
            f"modelDescription.xml could not be read: {message}",
            MODEL_DESCRIPTION,
        ) from exc


def _structure_problems(md: Any) -> list[str]:
    """fmpy's model-structure findings. fmpy itself simulates FMUs that have them (it does
    not check the model structure when it loads a model), so they are warnings."""
    from fmpy import validation

    try:
        return validation.validate_model_description(md, validate_model_structure=True)
    except Exception as exc:  # a validator crash must not refuse a model fmpy can load
        return [f"the model structure could not be checked: {type(exc).__name__}: {exc}"]


def _read_model_description(
    zf: zipfile.ZipFile, md_info: zipfile.ZipInfo, limits: InspectionLimits
) -> tuple[DescriptionFacts, list[str], str, int]:
    """(facts, model-structure warnings, sha256, size) of the archive's modelDescription.xml.

    The XML goes to a spooled temporary file (in memory up to
    ``limits.full_validation_max_bytes``) and is read from there in streaming passes; only
    a description small enough for fmpy is ever held whole."""
    cap = limits.max_model_description_size
    with tempfile.SpooledTemporaryFile(max_size=limits.full_validation_max_bytes) as spool:
        sink = _HashingSink(hashlib.sha256(), spool)
        try:
            size = read_entry_bounded(zf, md_info, sink, cap)
        except InspectionError as exc:
            if exc.code == "zip_bomb":
                raise InspectionError(
                    "model_description_too_large",
                    f"modelDescription.xml is larger than the limit of {cap} bytes.",
                    MODEL_DESCRIPTION,
                ) from exc
            raise
        spool.seek(0)
        try:
            facts = read_description(spool, _check_fmi_version)
        except ReaderError as exc:
            raise InspectionError(exc.code, exc.detail, MODEL_DESCRIPTION) from exc
        spool.seek(0)
        warnings: list[str] = []
        if size <= limits.full_validation_max_bytes:
            # fmpy is the reference: its checks and its messages.
            md = _fmpy_read(spool.read())
            warnings = _structure_problems(md)
        else:
            violation = validate_schema(spool, facts.fmi_version)
            if violation:
                raise InspectionError(
                    "invalid_model_description",
                    f"modelDescription.xml does not follow the FMI {facts.fmi_version} schema: "
                    f"{violation}",
                    MODEL_DESCRIPTION,
                )
            if facts.problems:
                raise InspectionError(
                    "invalid_model_description",
                    "modelDescription.xml could not be read: " + " ".join(facts.problems),
                    MODEL_DESCRIPTION,
                )
    return facts, warnings, sink.digest.hexdigest(), size


def _resolve_library(model_identifier: str, runtime: list[Platform]) -> tuple[str | None, bool]:
    """(library the gateway loads for ``model_identifier``, whether it is named otherwise).

    ``<modelIdentifier>.so`` in a runtime folder; otherwise the folder's only shared library
    (several exporters name it after the file), which the sandbox's extraction links under
    the expected name. Two or more libraries with none matching stay unresolved."""
    for plat in runtime:
        expected = f"binaries/{plat.folder}/{model_identifier}.so"
        if expected in plat.libraries:
            return expected, False
    for plat in runtime:
        direct = [name for name in plat.libraries if name.count("/") == 2 and name.endswith(".so")]
        if len(direct) == 1:
            return direct[0], True
    return None, False


def _platforms(
    names: list[str], identifiers: list[str]
) -> tuple[dict[str, Platform], list[tuple[str, Platform]]]:
    """Group ``binaries/<folder>/...`` entries per platform folder.

    Returns (platforms by folder, [(entry name, platform)] for every file in binaries/).
    """
    platforms: dict[str, Platform] = {}
    files: list[tuple[str, Platform]] = []
    for name in names:
        parts = name.split("/")
        if len(parts) < 3 or parts[0] != "binaries" or not parts[1] or not parts[-1]:
            continue
        folder = parts[1]
        plat = platforms.get(folder)
        if plat is None:
            norm, arch, os_name = platform_of_folder(folder)
            plat = Platform(norm, folder, arch, os_name, runnable=norm == RUNTIME_PLATFORM)
            platforms[folder] = plat
        plat.files.append(name)
        suffix = SHARED_LIBRARY_SUFFIX.get(plat.os)
        if (suffix and name.endswith(suffix)) or (
            plat.os == "linux" and is_shared_object_name(name)
        ):
            plat.libraries.append(name)
        files.append((name, plat))
    for plat in platforms.values():
        suffix = SHARED_LIBRARY_SUFFIX.get(plat.os)
        if suffix is None:
            continue
        # Linux file systems are case-sensitive; Windows and macOS (by default) are not.
        fold = plat.os != "linux"
        present = {n.lower() if fold else n for n in plat.libraries}
        for mi in dict.fromkeys(identifiers):
            expected = f"binaries/{plat.folder}/{mi}{suffix}"
            if (expected.lower() if fold else expected) in present:
                plat.model_identifiers.append(mi)
    return platforms, files


# --------------------------------------------------------------------------- main


def inspect_fmu(
    path: Path,
    limits: InspectionLimits = DEFAULT_LIMITS,
    *,
    sha256: str | None = None,
) -> FmuInspection:
    """Inspect the FMU at ``path``; raise :class:`InspectionError` on the first fatal problem.

    ``sha256`` may be passed when the caller already hashed the upload while receiving it.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InspectionError("not_a_zip", f"The upload cannot be read: {exc}") from exc
    if size == 0:
        raise InspectionError("not_a_zip", "The file is empty; an FMU is a ZIP archive.")

    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            # Also refuses polyglots (e.g. a script or executable with a zip appended).
            raise InspectionError(
                "not_a_zip",
                "The file is not a ZIP archive (an FMU must be a .zip file).",
            )
        declared = _declared_entry_count(fh)
        if declared is None:
            raise InspectionError(
                "not_a_zip",
                "The file is not a valid ZIP archive (no central directory).",
            )
        if declared > limits.max_entries:
            raise InspectionError(
                "too_many_entries",
                f"The archive declares {declared} entries; at most {limits.max_entries} "
                "are allowed.",
            )
        fh.seek(0)
        try:
            zf = zipfile.ZipFile(fh)
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            OSError,
            ValueError,
            EOFError,
        ) as exc:
            raise InspectionError(
                "not_a_zip", f"The file is not a valid ZIP archive: {exc}"
            ) from exc
        with zf:
            return _inspect_open(zf, path, size, limits, sha256)


def _inspect_open(
    zf: zipfile.ZipFile,
    path: Path,
    size: int,
    limits: InspectionLimits,
    sha256: str | None,
) -> FmuInspection:
    entries, total_uncompressed, warnings = _check_archive(zf, size, limits)

    # ---- model description
    try:
        md_info = zf.getinfo(MODEL_DESCRIPTION)
    except KeyError:
        raise InspectionError(
            "missing_model_description",
            "The archive has no modelDescription.xml at its root. Zip the FMU's contents, "
            "not the folder that contains them.",
        ) from None
    if md_info.file_size > limits.max_model_description_size:
        raise InspectionError(
            "model_description_too_large",
            f"modelDescription.xml is {md_info.file_size} bytes; the limit is "
            f"{limits.max_model_description_size}.",
            MODEL_DESCRIPTION,
        )
    facts, structure_warnings, md_sha, md_size = _read_model_description(zf, md_info, limits)
    fmi_version = facts.fmi_version

    if not facts.interfaces:
        raise InspectionError(
            "invalid_model_description",
            "modelDescription.xml declares neither ModelExchange, CoSimulation nor "
            "ScheduledExecution.",
            MODEL_DESCRIPTION,
        )
    identifiers = [itf.model_identifier for itf in facts.interfaces if itf.model_identifier]

    # ---- binaries and platforms
    names = [e.name for e in entries]
    platforms, binary_files = _platforms(names, identifiers)
    has_sources = any(n.startswith("sources/") for n in names)
    has_documentation = any(n.startswith("documentation/") for n in names)
    if not any(p.libraries for p in platforms.values()) and not has_sources:
        # Binaries whose name does not match the modelIdentifier still count here: such
        # FMUs exist in the wild and are reported as a warning below, not rejected.
        raise InspectionError(
            "missing_binary",
            "The FMU contains no binary for modelIdentifier "
            + ", ".join(repr(i) for i in dict.fromkeys(identifiers))
            + " on any platform and no sources; expected e.g. binaries/linux64/"
            + f"{identifiers[0] if identifiers else 'model'}.so.",
        )

    binaries: list[BinaryInfo] = []
    for name, plat in binary_files:
        info = zf.getinfo(name)
        if name not in plat.libraries:
            continue  # e.g. OpenModelica's empty *_FMU.libs marker files
        fmt, elf_class, machine, elf_type = sniff_binary(read_entry_head(zf, info))
        binaries.append(
            BinaryInfo(name, plat.name, info.file_size, fmt, elf_class, machine, elf_type)
        )
        if plat.runnable:
            # Only binaries we will actually dlopen() get the full (seeking) ELF parse.
            with tempfile.TemporaryFile() as tmp:
                read_entry_bounded(zf, info, tmp, limits.max_entry_uncompressed)
                validate_elf_shared_object(tmp, name)
        elif plat.os == "linux" and fmt == "elf":
            expected = {"x86": ("EM_386", 32), "aarch64": ("EM_AARCH64", 64)}.get(plat.arch)
            if expected and (machine, elf_class) != expected:
                warnings.append(
                    f"{name} is a {elf_class}-bit {machine} ELF file, which does not match "
                    f"its platform folder {plat.folder!r}"
                )

    # ---- model structure: warnings only (see module docstring)
    warnings.extend(f"model description: {p}" for p in structure_warnings)

    runtime = [p for p in platforms.values() if p.runnable]
    interfaces: list[Interface] = []
    for declared in facts.interfaces:
        library, renamed = _resolve_library(declared.model_identifier, runtime)
        interfaces.append(
            Interface(
                kind=declared.kind,
                model_identifier=declared.model_identifier,
                runnable=library is not None,
                needs_execution_tool=declared.needs_execution_tool,
                can_get_and_set_fmu_state=declared.can_get_and_set_fmu_state,
                can_handle_variable_step_size=(
                    declared.can_handle_variable_step_size
                    if declared.kind == "CoSimulation"
                    else None
                ),
                library=library,
                library_renamed=renamed,
                supported=declared.kind in SUPPORTED_INTERFACES,
            )
        )

    # ---- platform policy
    linux_libraries = [n for p in platforms.values() if p.runnable for n in p.libraries]
    if not linux_libraries:
        found = sorted({p.name for p in platforms.values() if p.libraries})
        what = (
            "binaries for " + ", ".join(found)
            if found
            else "sources only"
            if has_sources
            else "no binaries"
        )
        message = (
            f"The FMU contains {what} but no x86_64 Linux binary; the gateway runs FMUs on "
            "x86_64 Linux only. Export it again with a linux64 (FMI 2) or x86_64-linux "
            "(FMI 3) binary."
        )
        if limits.require_linux_binary:
            raise InspectionError("no_linux_binary", message)
        warnings.append("no linux binary: the model can be inspected but not run on this platform")
    else:
        for itf in interfaces:
            folder = next(p.folder for p in runtime if p.libraries)
            expected_path = f"binaries/{folder}/{itf.model_identifier}.so"
            if itf.library_renamed:
                warnings.append(
                    f"{itf.kind}: modelIdentifier {itf.model_identifier!r} expects {expected_path} "
                    f"but the only Linux binary is {PurePosixPath(itf.library or '').name!r}; "
                    "the gateway loads that library (importers that look the library up by "
                    "modelIdentifier, such as plain fmpy, will not find it)"
                )
            elif not itf.runnable:
                warnings.append(
                    f"{itf.kind}: modelIdentifier {itf.model_identifier!r} expects "
                    f"{expected_path} but the Linux binaries are "
                    + ", ".join(repr(PurePosixPath(n).name) for n in linux_libraries)
                    + "; importers look the library up by modelIdentifier, so running it will "
                    "fail"
                )
    for itf in interfaces:
        if not itf.supported:
            runnable_kinds = [i.kind for i in interfaces if i.supported]
            warnings.append(
                f"{itf.kind}: the gateway's runner cannot execute FMI 3 Scheduled Execution; "
                + (
                    f"jobs use {' or '.join(runnable_kinds)}"
                    if runnable_kinds
                    else "this model cannot be run on the gateway"
                )
            )

    de = facts.default_experiment
    default_experiment = (
        DefaultExperiment(
            _float(de["startTime"]),
            _float(de["stopTime"]),
            _float(de["tolerance"]),
            _float(de["stepSize"]),
        )
        if de is not None
        else None
    )
    attributes = facts.attributes

    return FmuInspection(
        sha256=sha256 or sha256_file(path),
        size=size,
        fmi_version=fmi_version,
        model_name=attributes["modelName"] or "",
        instantiation_token=attributes["guid"],
        generation_tool=attributes["generationTool"],
        generation_date=attributes["generationDateAndTime"],
        description=attributes["description"],
        author=attributes["author"],
        version=attributes["version"],
        copyright=attributes["copyright"],
        license=attributes["license"],
        variable_naming_convention=attributes["variableNamingConvention"],
        interfaces=interfaces,
        platforms=sorted(platforms.values(), key=lambda p: p.folder),
        binaries=binaries,
        has_sources=has_sources,
        has_documentation=has_documentation,
        default_experiment=default_experiment,
        variables=facts.variables,
        model_description_sha256=md_sha,
        model_description_size=md_size,
        number_of_continuous_states=facts.number_of_continuous_states,
        number_of_event_indicators=facts.number_of_event_indicators,
        total_uncompressed_size=total_uncompressed,
        entries=entries,
        warnings=warnings,
    )
