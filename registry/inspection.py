"""Synchronous inspection of an uploaded FMU archive (pure Python, no Django).

:func:`inspect_fmu` runs *before* anything is stored: it either returns an
:class:`FmuInspection` (the facts behind the model card) or raises
:class:`InspectionError` with a stable snake_case ``code`` and a sentence a creator
understands. It never extracts the archive to disk as a whole and never reads an entry
wholly into memory except ``modelDescription.xml`` (size-capped). Linux binaries are
streamed into an anonymous temporary file (deleted on close) so pyelftools can seek.

Order of the checks (the first fatal problem wins), from "this is not an FMU archive"
to "this FMU cannot run here":

1. archive: ``not_a_zip``, ``too_many_entries`` (read from the end-of-central-directory
   record before the central directory is parsed), ``unsafe_path``, ``symlink_entry``,
   ``special_file``, ``duplicate_entry``, ``encrypted_entry``,
   ``unsupported_compression``, ``zip_bomb`` (declared sizes, ratios, overlapping
   entries), ``corrupt_archive``;
2. model description: ``missing_model_description``, ``model_description_too_large``,
   ``xml_entities_forbidden`` (any DOCTYPE is refused by defusedxml *before* anything
   else parses the bytes), ``malformed_model_description``, ``unsupported_fmi_version``,
   ``invalid_model_description`` (fmpy's schema/semantic validation and message);
3. implementation: ``missing_binary`` (no binary for any declared modelIdentifier on any
   platform and no sources), ``invalid_elf`` (an x86_64-linux ``.so`` that is not a
   valid x86-64 ELF shared object);
4. model structure: ``invalid_model_description`` for fmpy's model-structure problems,
   except the (very common, harmless for simulation) incomplete ``InitialUnknowns``
   list, which is only a warning;
5. platform policy: ``no_linux_binary``.

Decisions for the negative FMUs of ``../shared/fmus``:

* ``negative/empty_file/illegal.fmu`` -> ``not_a_zip`` (0 bytes).
* ``negative/malformed/MalFormed.fmu`` -> ``invalid_model_description``: its XML is
  well formed and schema-valid but ``ModelStructure/Outputs`` does not list every
  output (fmpy's model-structure validation). Step 4 runs before the platform policy
  so the creator hears about the broken description first, not about Windows-only
  binaries.
* ``negative/xml_only/pump_mocked.fmu`` -> ``missing_binary`` (only modelDescription.xml;
  step 3 comes before step 4, so its own model-structure defects are not reported).
* ``negative/win_only/bouncingBall_FMUSDK_cs.fmu`` -> ``no_linux_binary``. It is a
  legitimate FMU, but the gateway executes FMUs only on x86_64 Linux and does not
  compile shipped sources at upload time, so a model that can never be run is refused
  up front with a specific, actionable reason (re-export with a ``linux64`` /
  ``x86_64-linux`` binary). The same applies to sources-only FMUs. Set
  ``InspectionLimits(require_linux_binary=False)`` to accept such FMUs with a warning
  instead (e.g. a future "catalogue only" listing).

The Overture, 20-sim ``singlewatertank`` and INTO-CPS ``watertankcontroller`` FMUs pass:
their descriptions are valid and they ship x86-64 shared objects; that they fail or hang
when simulated is the sandbox's business. The latter two name their library after the
file (``singlewatertank-20sim.so``) rather than the modelIdentifier (``SingleWatertank``):
a library under the wrong name still counts as "has a binary" for ``missing_binary`` and
``no_linux_binary``, but the interface is reported with ``runnable=False`` and a warning
(the scan adds a ``binary_name_mismatch`` finding). Windows/macOS names are matched
case-insensitively, Linux names exactly.
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
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as DefusedET

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
    max_total_uncompressed: int = 2 * 1024**3  # 2 GiB: large Dymola FMUs are ~100 MB
    max_entry_uncompressed: int = 1024**3
    # Deflate tops out near 1032:1; real binaries/sources compress 2-10:1. Only entries
    # above ``ratio_min_size`` are checked so tiny, highly repetitive files do not trip it.
    max_compression_ratio: float = 200.0
    ratio_min_size: int = 1024**2
    max_model_description_size: int = 16 * 1024**2
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
class Variable:
    name: str
    value_reference: int | None
    causality: str | None
    variability: str | None
    type: str | None
    unit: str | None = None
    start: str | None = None
    min: str | None = None
    max: str | None = None
    nominal: str | None = None
    description: str | None = None
    initial: str | None = None
    declared_type: str | None = None
    shape: list[int] | None = None  # FMI 3 arrays with fixed dimensions


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
    variables: list[Variable]
    model_description_sha256: str
    model_description_size: int
    number_of_continuous_states: int
    number_of_event_indicators: int
    total_uncompressed_size: int
    entries: list[ArchiveEntry]
    warnings: list[str] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        return any(i.runnable for i in self.interfaces)

    @property
    def number_of_variables(self) -> int:
        return len(self.variables)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
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
    seen: set[str] = set()
    folded: dict[str, str] = {}
    warnings: list[str] = []
    entries: list[ArchiveEntry] = []
    total = 0
    for info in infos:
        _check_name(info, limits)
        name = info.filename
        if name in seen:
            raise InspectionError(
                "duplicate_entry",
                f"The archive contains {name!r} more than once.",
                name,
            )
        seen.add(name)
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
        if not info.is_dir():
            entries.append(ArchiveEntry(name, info.file_size, info.compress_size))

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


def read_entry_bounded(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, sink: IO[bytes], cap: int
) -> int:
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
        order = "little" if head[5] == 1 else "big"
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
    from elftools.elf.elffile import ELFFile

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
        dynamic = elf.get_section_by_name(".dynamic")
        if dynamic is None:
            dynamic = next(
                (s for s in elf.iter_segments() if s.header["p_type"] == "PT_DYNAMIC"),
                None,
            )
        if dynamic is None:
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


def _parse_xml_safely(xml: bytes) -> Element:
    try:
        root = DefusedET.fromstring(xml, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise InspectionError(
            "xml_entities_forbidden",
            "modelDescription.xml declares a DOCTYPE, entities or external references "
            f"({type(exc).__name__}); these are not allowed in FMUs.",
            MODEL_DESCRIPTION,
        ) from exc
    except ParseError as exc:
        line, col = getattr(exc, "position", (None, None))
        raise InspectionError(
            "malformed_model_description",
            f"modelDescription.xml is not well-formed XML (line {line}, column {col}): {exc}",
            MODEL_DESCRIPTION,
        ) from exc
    except (ValueError, LookupError) as exc:  # e.g. unknown encoding declaration
        raise InspectionError(
            "malformed_model_description",
            f"modelDescription.xml cannot be decoded: {exc}",
            MODEL_DESCRIPTION,
        ) from exc
    return root


def _check_fmi_version(root: Element) -> str:
    if root.tag != "fmiModelDescription":
        raise InspectionError(
            "invalid_model_description",
            f"The root element of modelDescription.xml is <{root.tag}>, "
            "expected <fmiModelDescription>.",
            MODEL_DESCRIPTION,
        )
    version = (root.get("fmiVersion") or "").strip()
    if version in ("1.0", "2.0") or re.fullmatch(r"3\.\d+(\.\d+)?([-.+][\w.]+)?", version):
        return version
    raise InspectionError(
        "unsupported_fmi_version",
        f"fmiVersion {version!r} is not supported; use FMI 1.0, 2.0 or 3.0."
        if version
        else "modelDescription.xml has no fmiVersion attribute.",
        MODEL_DESCRIPTION,
    )


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


def _structure_problems(md: Any) -> tuple[list[str], list[str]]:
    """fmpy's model-structure validation split into (fatal, warnings)."""
    from fmpy import validation

    try:
        problems = validation.validate_model_description(md, validate_model_structure=True)
    except Exception as exc:  # a validator crash is itself a defect
        return [f"model structure validation failed: {exc}"], []
    fatal = [p for p in problems if "InitialUnknowns" not in p]
    warnings = [p for p in problems if "InitialUnknowns" in p]
    return fatal, warnings


def _variables(md: Any) -> list[Variable]:
    out: list[Variable] = []
    for v in md.modelVariables:
        declared = v.declaredType
        shape = None
        if getattr(v, "dimensions", None):
            try:
                shape = [int(d.start) for d in v.dimensions]
            except (TypeError, ValueError):
                shape = None
        out.append(
            Variable(
                name=v.name,
                value_reference=v.valueReference,
                causality=v.causality,
                variability=v.variability,
                type=v.type,
                unit=v.unit or (declared.unit if declared is not None else None),
                start=v.start,
                min=v.min if v.min is not None else getattr(declared, "min", None),
                max=v.max if v.max is not None else getattr(declared, "max", None),
                nominal=v.nominal if v.nominal is not None else getattr(declared, "nominal", None),
                description=v.description,
                initial=v.initial,
                declared_type=declared.name if declared is not None else None,
                shape=shape,
            )
        )
    return out


def _interfaces(md: Any) -> list[tuple[str, Any]]:
    pairs = [
        ("ModelExchange", md.modelExchange),
        ("CoSimulation", md.coSimulation),
        ("ScheduledExecution", md.scheduledExecution),
    ]
    return [(kind, itf) for kind, itf in pairs if itf is not None]


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
    buf = io.BytesIO()
    try:
        read_entry_bounded(zf, md_info, buf, limits.max_model_description_size)
    except InspectionError as exc:
        if exc.code == "zip_bomb":
            raise InspectionError(
                "model_description_too_large",
                "modelDescription.xml is larger than the limit of "
                f"{limits.max_model_description_size} bytes.",
                MODEL_DESCRIPTION,
            ) from exc
        raise
    xml = buf.getvalue()
    del buf
    root = _parse_xml_safely(xml)
    fmi_version = _check_fmi_version(root)
    del root
    md = _fmpy_read(xml)
    md_sha = hashlib.sha256(xml).hexdigest()
    md_size = len(xml)
    del xml

    interfaces_md = _interfaces(md)
    if not interfaces_md:
        raise InspectionError(
            "invalid_model_description",
            "modelDescription.xml declares neither ModelExchange, CoSimulation nor "
            "ScheduledExecution.",
            MODEL_DESCRIPTION,
        )
    identifiers = [itf.modelIdentifier for _, itf in interfaces_md if itf.modelIdentifier]

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

    # ---- model structure (after the implementation checks, see module docstring)
    fatal, minor = _structure_problems(md)
    if fatal:
        raise InspectionError(
            "invalid_model_description",
            "modelDescription.xml is inconsistent: " + " ".join(fatal),
            MODEL_DESCRIPTION,
        )
    warnings.extend(f"model description: {p}" for p in minor)

    runnable_ids = {mi for p in platforms.values() if p.runnable for mi in p.model_identifiers}
    interfaces: list[Interface] = []
    for kind, itf in interfaces_md:
        interfaces.append(
            Interface(
                kind=kind,
                model_identifier=itf.modelIdentifier,
                runnable=itf.modelIdentifier in runnable_ids,
                needs_execution_tool=bool(itf.needsExecutionTool),
                can_get_and_set_fmu_state=bool(itf.canGetAndSetFMUstate),
                can_handle_variable_step_size=(
                    bool(itf.canHandleVariableCommunicationStepSize)
                    if kind == "CoSimulation"
                    else None
                ),
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
            if itf.runnable:
                continue
            folder = next(p.folder for p in platforms.values() if p.runnable and p.libraries)
            warnings.append(
                f"{itf.kind}: modelIdentifier {itf.model_identifier!r} expects "
                f"binaries/{folder}/{itf.model_identifier}.so but the Linux binaries are "
                + ", ".join(repr(PurePosixPath(n).name) for n in linux_libraries)
                + "; importers look the library up by modelIdentifier, so running it will "
                "probably fail"
            )

    de = md.defaultExperiment
    default_experiment = (
        DefaultExperiment(
            _float(de.startTime),
            _float(de.stopTime),
            _float(de.tolerance),
            _float(de.stepSize),
        )
        if de is not None
        else None
    )

    return FmuInspection(
        sha256=sha256 or sha256_file(path),
        size=size,
        fmi_version=fmi_version,
        model_name=md.modelName or "",
        instantiation_token=md.guid,
        generation_tool=md.generationTool,
        generation_date=md.generationDateAndTime,
        description=md.description,
        author=md.author,
        version=md.version,
        copyright=md.copyright,
        license=md.license,
        variable_naming_convention=md.variableNamingConvention,
        interfaces=interfaces,
        platforms=sorted(platforms.values(), key=lambda p: p.folder),
        binaries=binaries,
        has_sources=has_sources,
        has_documentation=has_documentation,
        default_experiment=default_experiment,
        variables=_variables(md),
        model_description_sha256=md_sha,
        model_description_size=md_size,
        number_of_continuous_states=int(md.numberOfContinuousStates or 0),
        number_of_event_indicators=int(md.numberOfEventIndicators or 0),
        total_uncompressed_size=total_uncompressed,
        entries=entries,
        warnings=warnings,
    )
