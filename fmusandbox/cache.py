"""Per-worker cache of extracted FMUs, keyed by the archive's sha256.

Extraction is the only place where the worker itself touches the (hostile) archive, so it is
defensive: no absolute paths, no ``..``, no symlinks or special files, bounded member count and
unpacked size (counted on the bytes actually written, not on the headers), and the result is
made read-only before it is published with an atomic rename.

The cache is bounded in entries and in total bytes: after each extraction the least recently
used entries go until both bounds hold again. Entries in use (``lease``) are never evicted.

Two compatibility steps for FMUs that plain fmpy refuses but the registry accepts: a member
stored twice with identical bytes is extracted once, and a runtime folder whose only library
is not named after the modelIdentifier gets a hard link under the expected name
(:func:`link_misnamed_library`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Only what a simulation needs; sources and documentation are never unpacked.
_WANTED_PREFIXES = ("binaries/", "resources/")
_MAX_MEMBERS = 20_000
_CHUNK = 1 << 20


class FmuCacheError(Exception):
    """The archive is unusable (corrupt, unsafe, too large, hash mismatch)."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _make_writable(path: str) -> None:
    for dirpath, dirnames, _ in os.walk(path):
        os.chmod(dirpath, 0o700)
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chmod(full, 0o700)


def remove_tree(path: str | os.PathLike[str]) -> None:
    """rmtree that also works on the read-only trees this cache creates (as non-root too)."""
    path = os.fspath(path)
    if not os.path.lexists(path):
        return
    with contextlib.suppress(OSError):
        _make_writable(path)
    shutil.rmtree(path, ignore_errors=True)


def _safe_member_path(name: str) -> PurePosixPath | None:
    """Relative path of a wanted member, None to skip it; raises on anything unsafe."""
    if "\0" in name or len(name) > 1024:
        raise FmuCacheError(f"unsafe member name in archive: {name[:80]!r}")
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        raise FmuCacheError(f"absolute path in archive: {name[:200]!r}")
    parts = [p for p in normalized.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise FmuCacheError(f"path traversal in archive: {name[:200]!r}")
    if not parts:
        return None
    path = PurePosixPath(*parts)
    text = path.as_posix() + ("/" if normalized.endswith("/") else "")
    if text == "modelDescription.xml" or text.startswith(_WANTED_PREFIXES):
        return path
    return None


def _same_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bool:
    with archive.open(info) as src, open(path, "rb") as existing:
        while True:
            chunk = src.read(_CHUNK)
            if chunk != existing.read(len(chunk)):
                return False
            if not chunk:
                return existing.read(1) == b""


#: The folders fmpy loads x86-64 Linux binaries from (FMI 1/2, FMI 3).
_RUNTIME_FOLDERS = ("linux64", "x86_64-linux")
_MODEL_DESCRIPTION_CAP = 64 * 1024 * 1024
_INTERFACE_TAGS = ("ModelExchange", "CoSimulation", "ScheduledExecution")


class _StopParsing(Exception):
    pass


def model_identifiers(description: Path) -> set[str]:
    """The modelIdentifiers a (hostile) modelDescription.xml declares: attributes of the root
    (FMI 1) and of its ModelExchange / CoSimulation / ScheduledExecution children.

    expat, stopping at the first variable; a DOCTYPE (so any entity) ends the parse with no
    identifiers."""
    import xml.parsers.expat

    found: set[str] = set()
    depth = 0

    def start(tag: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        identifier = attributes.get("modelIdentifier")
        if identifier and (depth == 1 or (depth == 2 and tag in _INTERFACE_TAGS)):
            found.add(identifier)
        if tag == "ModelVariables":
            raise _StopParsing

    def end(_tag: str) -> None:
        nonlocal depth
        depth -= 1

    def refuse(*_args: object) -> None:
        found.clear()  # no entity is ever expanded: such a description gets no link
        raise _StopParsing

    parser = xml.parsers.expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        with open(description, "rb") as f:
            parser.ParseFile(_Bounded(f, _MODEL_DESCRIPTION_CAP))
    except _StopParsing:
        pass
    except xml.parsers.expat.ExpatError:
        return found  # fmpy will report the broken description itself
    return found


class _Bounded:
    def __init__(self, f: IO[bytes], cap: int) -> None:
        self._f, self._left = f, cap

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(min(n if n >= 0 else self._left, self._left))
        self._left -= len(data)
        return data


def link_misnamed_library(root: Path) -> list[str]:
    """Make an extracted FMU loadable when its only Linux library is not named after the
    modelIdentifier (several exporters name it after the file): link
    ``binaries/<folder>/<modelIdentifier>.so`` to that library, as the registry's
    inspection promises (its ``library_renamed``). Returns the links made.

    A hard link in the extracted copy only: the archive and its checksum are unchanged, and
    a folder with two or more libraries is left alone (which one would be the model?)."""
    folders = [root / "binaries" / name for name in _RUNTIME_FOLDERS]
    folders = [folder for folder in folders if folder.is_dir() and not folder.is_symlink()]
    if not folders:
        return []
    identifiers = model_identifiers(root / "modelDescription.xml")
    made = []
    for folder in folders:
        libraries = [p for p in folder.iterdir() if p.name.endswith(".so") and p.is_file()]
        if len(libraries) != 1:
            continue
        for identifier in sorted(identifiers):
            target = folder / f"{identifier}.so"
            if "/" in identifier or identifier in (".", "..") or target.exists():
                continue
            try:
                os.link(libraries[0], target)
            except OSError:  # e.g. a name too long for the file system: fmpy will say so
                continue
            made.append(target.relative_to(root).as_posix())
    return made


class FmuCache:
    """Extract-once cache. Thread-safe; share a directory only between processes that never
    evict concurrently (the default is one directory per worker process).

    ``max_bytes`` bounds the total size of the extracted FMUs (a single FMU may unpack to at
    most ``min(max_unpacked_bytes, max_bytes)``), ``max_entries`` their number."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_entries: int,
        max_unpacked_bytes: int,
        max_bytes: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.max_entries = max_entries
        self.max_bytes = max_bytes if max_bytes is not None else max_entries * max_unpacked_bytes
        self.max_unpacked_bytes = min(max_unpacked_bytes, self.max_bytes)
        self._lock = threading.Lock()  # one extraction at a time
        self._meta = threading.Lock()  # sizes, pins and the choice of what to evict
        self._sizes: dict[str, int] = {}
        self._pins: dict[str, int] = {}
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def get(self, fmu_path: str | os.PathLike[str], sha256: str | None = None) -> Path:
        """Directory with the extracted FMU (read-only). Hashes and extracts on a miss."""
        return self._get(fmu_path, sha256, pin=False)

    @contextlib.contextmanager
    def lease(self, fmu_path: str | os.PathLike[str], sha256: str | None = None) -> Iterator[Path]:
        """Like :meth:`get`, and the entry is not evicted before the block ends."""
        path = self._get(fmu_path, sha256, pin=True)
        try:
            yield path
        finally:
            with self._meta:
                left = self._pins.get(path.name, 0) - 1
                if left > 0:
                    self._pins[path.name] = left
                else:
                    self._pins.pop(path.name, None)

    @property
    def total_bytes(self) -> int:
        with self._meta:
            return sum(self._size(p) for p in self._entries())

    def _get(self, fmu_path: str | os.PathLike[str], sha256: str | None, *, pin: bool) -> Path:
        if sha256 is not None:
            sha256 = sha256.lower()
            if not _SHA256.match(sha256):
                raise FmuCacheError("sha256 must be 64 hexadecimal characters")
            hit = self._hit(self.root / sha256, pin)
            if hit is not None:
                return hit
        with self._lock:
            return self._extract(fmu_path, sha256, pin)

    def _hit(self, path: Path, pin: bool) -> Path | None:
        with self._meta:
            if not path.is_dir():
                return None
            if pin:
                self._pins[path.name] = self._pins.get(path.name, 0) + 1
        self._touch(path)
        return path

    def _touch(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            os.utime(path)

    def _extract(
        self, fmu_path: str | os.PathLike[str], expected: str | None, pin: bool = False
    ) -> Path:
        try:
            f = open(fmu_path, "rb")  # noqa: SIM115 - kept open: hash and unzip the same bytes
        except OSError as exc:
            raise FmuCacheError(f"cannot open FMU: {exc.strerror}") from None
        with f:
            digest = hashlib.sha256()
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
            actual = digest.hexdigest()
            if expected is not None and actual != expected:
                raise FmuCacheError("FMU content does not match its sha256")
            target = self.root / actual
            hit = self._hit(target, pin)
            if hit is not None:
                return hit
            f.seek(0)
            tmp = Path(self._mkdtemp())
            try:
                size = self._unzip(f, tmp)
                link_misnamed_library(tmp)  # a hard link: the size counted stays right
                self._freeze(tmp)
                try:
                    os.rename(tmp, target)
                except OSError:
                    if not target.is_dir():  # somebody else won the race: use theirs
                        raise
                    remove_tree(tmp)
            except BaseException:
                remove_tree(tmp)
                raise
        with self._meta:
            self._sizes[target.name] = size
            if pin:
                self._pins[target.name] = self._pins.get(target.name, 0) + 1
        self._evict(keep=target)
        return target

    def _mkdtemp(self) -> str:
        import tempfile

        return tempfile.mkdtemp(prefix=".extract-", dir=self.root)

    def _unzip(self, f: IO[bytes], dest: Path) -> int:
        try:
            archive = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise FmuCacheError(f"not a valid FMU (zip) archive: {exc}") from None
        total = 0
        with archive:
            members = archive.infolist()
            if len(members) > _MAX_MEMBERS:
                raise FmuCacheError(f"archive has more than {_MAX_MEMBERS} members")
            found_description = False
            for info in members:
                rel = _safe_member_path(info.filename)
                if rel is None:
                    continue
                out = dest.joinpath(*rel.parts)
                if info.is_dir():
                    out.mkdir(mode=0o700, parents=True, exist_ok=True)
                    continue
                # Unix-made archives carry a file type; refuse symlinks, devices, fifos.
                mode = info.external_attr >> 16
                if info.create_system == 3 and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                    raise FmuCacheError(f"archive member is not a regular file: {rel}")
                out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                if rel.as_posix() == "modelDescription.xml":
                    found_description = True
                try:
                    with archive.open(info) as src, open(out, "xb") as dst:
                        while chunk := src.read(_CHUNK):
                            total += len(chunk)
                            if total > self.max_unpacked_bytes:
                                raise FmuCacheError(
                                    f"FMU unpacks to more than {self.max_unpacked_bytes} bytes"
                                )
                            dst.write(chunk)
                except FileExistsError:
                    # Some exporters store a member twice; an identical copy is harmless.
                    if not _same_bytes(archive, info, out):
                        raise FmuCacheError(f"duplicate archive member: {rel}") from None
                except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
                    raise FmuCacheError(f"cannot unpack {rel}: {exc}") from None
                except (EOFError, ValueError, RuntimeError) as exc:  # zlib errors, encryption
                    raise FmuCacheError(f"cannot unpack {rel}: {exc}") from None
            if not found_description:
                raise FmuCacheError("archive has no modelDescription.xml")
        return total

    @staticmethod
    def _freeze(root: Path) -> None:
        """World-readable, nobody-writable: the sandbox uid reads it through a ro bind."""
        for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o444)
            os.chmod(dirpath, 0o555)  # noqa: S103 - read-only for everyone, on purpose

    def _entries(self) -> list[Path]:
        return [p for p in self.root.iterdir() if _SHA256.match(p.name)]

    def _size(self, path: Path) -> int:
        """Bytes of an entry: recorded at extraction, or counted once (older entries)."""
        size = self._sizes.get(path.name)
        if size is None:
            size = 0
            for dirpath, _dirs, files in os.walk(path):
                for name in files:
                    with contextlib.suppress(OSError):
                        size += os.lstat(os.path.join(dirpath, name)).st_size
            self._sizes[path.name] = size
        return size

    def _evict(self, keep: Path) -> None:
        """Remove least recently used entries until the entry and byte bounds hold."""
        doomed: list[Path] = []
        with self._meta:
            entries = self._entries()
            total = sum(self._size(p) for p in entries)
            count = len(entries)

            def mtime(path: Path) -> float:
                try:
                    return path.stat().st_mtime
                except OSError:
                    return 0.0

            for path in sorted(entries, key=mtime):
                if count <= self.max_entries and total <= self.max_bytes:
                    break
                if path == keep or self._pins.get(path.name):
                    continue  # in use: evicted later
                # renamed at once so that no new lease can find it, removed outside the lock
                grave = self.root / f".evict-{path.name}"
                try:
                    os.rename(path, grave)
                except OSError:
                    continue
                doomed.append(grave)
                total -= self._sizes.pop(path.name, 0)
                count -= 1
        for path in doomed:
            remove_tree(path)
