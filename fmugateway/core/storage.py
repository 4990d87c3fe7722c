"""Helpers for the named storages every app uses (``STORAGES["artifacts"]``, ``"results"``...).

Objects of the storages in ``ENCRYPTED_STORAGES`` are encrypted at rest
(``fmugateway.core.artifact_crypto``): ``save_encrypted`` is how they are written, and they are
decrypted in two places only, ``local_copy`` (the sandbox's input: validation, test vectors,
jobs, sweeps) and ``open_decrypted`` (entitled downloads). Each object's data key is wrapped by
the first of ``ARTIFACT_MASTER_KEYS`` and kept in ``core.ObjectDataKey``; ``rotate_data_keys``
rewraps them under a new master key without touching the objects.

Objects stored before encryption existed (no header magic, no data key row) are read as they
are until ``manage.py encrypt_artifacts`` has converted them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from fmugateway.core.artifact_crypto import (
    HEADER_SIZE,
    ArtifactIntegrityError,
    ArtifactKeyUnavailable,
    DecryptingReader,
    EncryptingReader,
    is_encrypted,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)

logger = logging.getLogger(__name__)

ENCRYPTED_STORAGES = frozenset({"artifacts"})
_COPY_CHUNK = 1024 * 1024


def _storage(storage_name: str):
    from django.core.files.storage import storages

    return storages[storage_name]


def _context(storage_name: str, name: str) -> str:
    return f"{storage_name}:{name}"


def master_keys() -> dict[str, bytes]:
    from django.conf import settings

    return settings.ARTIFACT_MASTER_KEYS


def current_master_key() -> tuple[str, bytes]:
    key_id, key = next(iter(master_keys().items()))
    return key_id, key


def _wrap(storage_name: str, name: str, data_key: bytes) -> tuple[str, bytes]:
    key_id, key = current_master_key()
    return key_id, wrap_data_key(key, key_id, data_key, _context(storage_name, name))


def _data_key_row(storage_name: str, name: str):
    from fmugateway.core.models import ObjectDataKey

    return ObjectDataKey.objects.filter(storage=storage_name, name=name).first()


def _unwrap(row) -> bytes:
    key = master_keys().get(row.master_key_id)
    if key is None:
        logger.error(
            "artifact_key_unavailable: %s:%s needs master key %r, not in ARTIFACT_MASTER_KEYS",
            row.storage,
            row.name,
            row.master_key_id,
        )
        raise ArtifactKeyUnavailable()
    return unwrap_data_key(key, row.master_key_id, row.wrapped_key, _context(row.storage, row.name))


def _integrity_failed(storage_name: str, name: str, error: ArtifactIntegrityError) -> None:
    """Log and audit a failed integrity check (the error itself is raised by the caller)."""
    from fmugateway.core.audit import record

    logger.error("artifact_integrity: %s:%s: %s", storage_name, name, error.detail)
    try:
        record("core.artifact.integrity_failed", after={"object": name, "detail": error.detail})
    except Exception:  # the audit must never hide the integrity error itself
        logger.exception("could not audit the integrity failure of %s", name)


def integrity_error(storage_name: str, name: str, why: str) -> ArtifactIntegrityError:
    """The error to raise (its detail names no storage key: clients see it), logged and
    audited with the object's name."""
    error = ArtifactIntegrityError(
        f"The stored file failed its integrity check ({why}); it was not used."
    )
    _integrity_failed(storage_name, name, error)
    return error


# --- writing ---------------------------------------------------------------------------------


def save_encrypted(storage_name: str, name: str, source: Path) -> str:
    """Store the file at ``source`` encrypted under a new data key; returns the stored name
    (the storage may change it). Streams: memory stays at a chunk or two whatever the size."""
    from django.core.files import File

    from fmugateway.core.models import ObjectDataKey

    storage = _storage(storage_name)
    data_key = new_data_key()
    size = source.stat().st_size
    with open(source, "rb") as plain:
        # A RawIOBase stream: a binary file object, which typeshed's IO does not cover.
        reader = cast(BinaryIO, EncryptingReader(plain, data_key, size))
        stored = storage.save(name, File(reader, name=os.path.basename(name)))
    try:
        key_id, wrapped = _wrap(storage_name, stored, data_key)
        ObjectDataKey.objects.update_or_create(
            storage=storage_name,
            name=stored,
            defaults={"master_key_id": key_id, "wrapped_key": wrapped, "pending": False},
        )
    except BaseException:
        storage.delete(stored)
        raise
    return stored


def delete(storage_name: str, name: str) -> None:
    """Remove a stored object and its data key."""
    from fmugateway.core.models import ObjectDataKey

    _storage(storage_name).delete(name)
    ObjectDataKey.objects.filter(storage=storage_name, name=name).delete()


# --- reading ---------------------------------------------------------------------------------


def _open_reader(storage_name: str, name: str, *, stored_size: int | None) -> BinaryIO:
    """A stream of the object's plaintext (the object itself when it predates encryption)."""
    storage = _storage(storage_name)
    handle = storage.open(name, "rb")
    try:
        prefix = handle.read(HEADER_SIZE)
        handle.seek(0)
        row = _data_key_row(storage_name, name) if storage_name in ENCRYPTED_STORAGES else None
        if not is_encrypted(prefix):
            if row is not None and not row.pending:
                # Encrypted once, plaintext now: somebody replaced the object.
                raise integrity_error(storage_name, name, "it is no longer encrypted")
            return handle
        if row is None:
            raise integrity_error(storage_name, name, "no data key is recorded for it")
        try:
            data_key = _unwrap(row)
        except ArtifactIntegrityError as error:
            _integrity_failed(storage_name, name, error)
            raise
        return cast(  # a binary file object (see save_encrypted)
            BinaryIO,
            DecryptingReader(
                handle,
                data_key,
                stored_size=stored_size,
                on_failure=lambda error: _integrity_failed(storage_name, name, error),
            ),
        )
    except BaseException:
        handle.close()
        raise


@dataclass
class DecryptedObject:
    """An opened object: ``stream`` yields the plaintext, ``size`` its length in bytes."""

    stream: BinaryIO
    size: int


def open_decrypted(storage_name: str, name: str) -> DecryptedObject:
    """The plaintext of a stored object as a stream, for downloads.

    The header, the data key, the first chunk and the object's length are checked before this
    returns (``ArtifactIntegrityError`` / ``ArtifactKeyUnavailable``, nothing read out yet);
    a later chunk that fails raises from ``read`` and no byte of it is returned.
    """
    storage = _storage(storage_name)
    stream = _open_reader(storage_name, name, stored_size=storage.size(name))
    size = stream.size if isinstance(stream, DecryptingReader) else storage.size(name)
    return DecryptedObject(stream=stream, size=size)


_PLAIN_PREFIX = "fmugw-plain-"


def _copy_prefix() -> str:
    # The host name too: containers sharing a /tmp do not share process ids.
    host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:64]
    return f"{_PLAIN_PREFIX}{host}-"


def _plaintext_dir() -> Path:
    """A private directory for decrypted copies; copies left by processes that died (a worker
    killed at its hard time limit) are removed the next time one is made."""
    directory = Path(tempfile.gettempdir()) / f"fmugw-plaintext-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    if directory.is_symlink() or directory.stat().st_uid != os.getuid():
        raise OSError(f"{directory} is not a private directory of this user")
    os.chmod(directory, 0o700)
    own = re.compile(rf"{re.escape(_copy_prefix())}(\d+)-")
    for entry in directory.iterdir():
        match = own.match(entry.name)
        if match is None:
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                entry.unlink()
        except PermissionError:
            pass
    return directory


@contextmanager
def local_copy(storage_name: str, key: str, suffix: str) -> Iterator[Path]:
    """The stored file's plaintext as a local path, for the sandbox and the validator.

    An encrypted object is decrypted (streamed, authenticated chunk by chunk) into a private
    temporary file that is removed when the block ends; nothing is yielded unless the whole
    object authenticated. An object that predates encryption is its local path as before (or
    a downloaded temporary copy from S3).
    """
    storage = _storage(storage_name)
    try:
        path = Path(storage.path(key))
    except NotImplementedError:
        path = None
    if path is not None and storage_name in ENCRYPTED_STORAGES:
        with open(path, "rb") as probe:
            plain_on_disk = not is_encrypted(probe.read(HEADER_SIZE))
        row = _data_key_row(storage_name, key) if plain_on_disk else None
        if plain_on_disk and (row is None or row.pending):
            yield path
            return
    elif path is not None:
        yield path
        return
    stored_size = storage.size(key)
    with _open_reader(storage_name, key, stored_size=stored_size) as source:
        fd, name = tempfile.mkstemp(
            prefix=f"{_copy_prefix()}{os.getpid()}-", suffix=suffix, dir=_plaintext_dir()
        )
        target = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                while chunk := source.read(_COPY_CHUNK):
                    handle.write(chunk)
            yield target
        finally:
            target.unlink(missing_ok=True)


# --- converting and rotating -------------------------------------------------------------------


def _replace_object(storage_name: str, name: str, source: Path) -> None:
    """Put ``source`` in place of the object ``name`` in one step (a rename on local disks, a
    single PUT on S3), so a reader never sees half an object."""
    from django.conf import settings
    from django.core.files import File
    from django.core.files.storage import storages

    storage = _storage(storage_name)
    try:
        target = Path(storage.path(name))
    except NotImplementedError:
        target = None
    if target is not None:
        mode = getattr(storage, "file_permissions_mode", None)
        if mode is not None:
            os.chmod(source, mode)
        os.replace(source, target)
        return
    config = settings.STORAGES[storage_name]
    overwriting = storages.create_storage(
        {**config, "OPTIONS": {**config.get("OPTIONS", {}), "file_overwrite": True}}
    )
    with open(source, "rb") as handle:
        stored = overwriting.save(name, File(handle, name=os.path.basename(name)))
    if stored != name:
        raise RuntimeError(f"the storage kept {name} as {stored}; it cannot be replaced")


def is_stored_encrypted(storage_name: str, name: str) -> bool:
    """Whether the stored object starts with the header magic (the rest is not checked)."""
    with _storage(storage_name).open(name, "rb") as handle:
        return is_encrypted(handle.read(HEADER_SIZE))


def encrypt_existing_object(storage_name: str, name: str) -> str:
    """Encrypt one object stored in plaintext, in place. Answers ``"encrypted"``, ``"already"``
    (it has the header magic and its data key) or raises ``ArtifactIntegrityError``.

    Crash-safe: the data key is committed (``pending``) before the object is replaced, and
    marked done after; until then readers accept either form, and a new run finishes the job.
    """
    from fmugateway.core.models import ObjectDataKey

    storage = _storage(storage_name)
    row = _data_key_row(storage_name, name)
    if is_stored_encrypted(storage_name, name):
        if row is None:
            raise ArtifactIntegrityError(f"{name} is encrypted but has no data key.")
        if row.pending:
            # A run stopped between replacing the object and recording it: check, then record.
            with _open_reader(storage_name, name, stored_size=storage.size(name)) as reader:
                while reader.read(_COPY_CHUNK):
                    pass
            ObjectDataKey.objects.filter(pk=row.pk).update(pending=False)
            return "encrypted"
        return "already"
    if row is not None and not row.pending:
        raise ArtifactIntegrityError(f"{name} was encrypted and is plaintext now.")
    data_key = new_data_key()
    key_id, wrapped = _wrap(storage_name, name, data_key)
    ObjectDataKey.objects.update_or_create(
        storage=storage_name,
        name=name,
        defaults={"master_key_id": key_id, "wrapped_key": wrapped, "pending": True},
    )
    try:
        directory = Path(storage.path(name)).parent
    except NotImplementedError:
        directory = None
    fd, temp_name = tempfile.mkstemp(prefix=".encrypting-", dir=directory)
    temp = Path(temp_name)
    try:
        size = storage.size(name)
        with storage.open(name, "rb") as plain, os.fdopen(fd, "wb") as out:
            encrypting = EncryptingReader(plain, data_key, size)
            while chunk := encrypting.read(_COPY_CHUNK):
                out.write(chunk)
        _replace_object(storage_name, name, temp)
    finally:
        temp.unlink(missing_ok=True)
    ObjectDataKey.objects.filter(storage=storage_name, name=name).update(pending=False)
    return "encrypted"


def walk(storage_name: str, directory: str = "") -> Iterator[str]:
    """Every object name under ``directory`` of a storage (local or S3)."""
    storage = _storage(storage_name)
    directories, files = storage.listdir(directory)
    for file_name in sorted(files):
        if file_name.startswith(".encrypting-"):
            continue
        yield f"{directory}/{file_name}" if directory else file_name
    for sub in sorted(directories):
        yield from walk(storage_name, f"{directory}/{sub}" if directory else sub)


def rotate_data_key(row) -> bool:
    """Rewrap one data key under the current master key; False when it already is, or when
    another process changed the row meanwhile."""
    from fmugateway.core.models import ObjectDataKey

    key_id, _ = current_master_key()
    if row.master_key_id == key_id:
        return False
    data_key = _unwrap(row)
    new_id, wrapped = _wrap(row.storage, row.name, data_key)
    return bool(
        ObjectDataKey.objects.filter(
            pk=row.pk, master_key_id=row.master_key_id, wrapped_key=bytes(row.wrapped_key)
        ).update(master_key_id=new_id, wrapped_key=wrapped)
    )


@contextmanager
def exclusive_key_maintenance() -> Iterator[None]:
    """One ``encrypt_artifacts`` / ``rotate_artifact_keys`` at a time (a PostgreSQL advisory
    lock, released with the connection even if the process dies); raises ``RuntimeError``
    when another run holds it. Other databases (SQLite: one machine) take no lock."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    lock_id = 0x464D5547_41524B59  # "FMUGARKY"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_id])
        if not cursor.fetchone()[0]:
            raise RuntimeError("another encrypt_artifacts or rotate_artifact_keys is running")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])


def data_keys_by_master_key() -> dict[str, int]:
    """How many stored objects' data keys each master key id wraps."""
    from django.db.models import Count

    from fmugateway.core.models import ObjectDataKey

    rows = ObjectDataKey.objects.values("master_key_id").annotate(n=Count("id")).order_by()
    return {row["master_key_id"]: row["n"] for row in rows}
