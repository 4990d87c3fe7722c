"""The envelope format of encrypted artifacts: streamed, chunked AES-256-GCM.

Each stored object has its own random 256-bit data key (DEK), wrapped by a master key (AES-256-
GCM; the wrapped key and the master key's id live in the database, see
``fmugateway.core.storage``), so a master key is rotated by rewrapping 60-byte keys, never by
rewriting objects. An object is::

    header (24 bytes): MAGIC (8) | format version (1) | zero (3) | chunk size (4, big-endian)
                       | plaintext size (8, big-endian)
    chunk 0 .. n-1:    AES-GCM(DEK, nonce_i, plaintext chunk, aad=header) = ciphertext || tag

``nonce_i`` is the chunk index (11 bytes, big-endian) followed by 1 for the last chunk and 0
otherwise (the STREAM construction): reordered, dropped, duplicated or truncated chunks, a
changed header and a flipped bit anywhere all fail authentication. A chunk is released only
after its tag is checked, so no unauthenticated byte ever leaves a reader; nothing holds more
than a couple of chunks in memory. An empty plaintext is one empty chunk (its tag alone).

The data key is unique per object, so counter nonces never repeat under one key.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from typing import BinaryIO, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fmugateway.core.errors import DomainError

MAGIC = b"FMUGWENC"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">8sB3xIQ")
HEADER_SIZE = _HEADER.size  # 24
TAG_SIZE = 16
CHUNK_SIZE = 1024 * 1024
_MAX_CHUNK_SIZE = 16 * 1024 * 1024  # bounds what a forged header can make a reader allocate
_WRAP_NONCE_SIZE = 12
DATA_KEY_SIZE = 32


class ArtifactIntegrityError(DomainError):
    """A stored artifact is damaged or was tampered with; none of its bytes are used."""

    status_code = 503
    code = "artifact_integrity"
    detail = "The stored file failed its integrity check; it was not used."


class ArtifactKeyUnavailable(DomainError):
    """The master key that wraps an artifact's data key is not configured on this server."""

    status_code = 503
    code = "artifact_key_unavailable"
    detail = "The key that decrypts this stored file is not configured on this server."


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _wrap_aad(master_key_id: str, context: str) -> bytes:
    return b"fmugw-data-key-v1\0" + master_key_id.encode() + b"\0" + context.encode()


def wrap_data_key(master_key: bytes, master_key_id: str, data_key: bytes, context: str) -> bytes:
    """``nonce || AES-GCM(master_key, data_key)``, bound to the master key id and ``context``
    (the object's storage and name), so a wrapped key cannot be moved to another object."""
    nonce = os.urandom(_WRAP_NONCE_SIZE)
    sealed = AESGCM(master_key).encrypt(nonce, data_key, _wrap_aad(master_key_id, context))
    return nonce + sealed


def unwrap_data_key(master_key: bytes, master_key_id: str, wrapped: bytes, context: str) -> bytes:
    wrapped = bytes(wrapped)
    nonce, sealed = wrapped[:_WRAP_NONCE_SIZE], wrapped[_WRAP_NONCE_SIZE:]
    try:
        data_key = AESGCM(master_key).decrypt(nonce, sealed, _wrap_aad(master_key_id, context))
    except (InvalidTag, ValueError):
        raise ArtifactIntegrityError(
            "The stored file failed its integrity check (its data key does not authenticate); "
            "it was not used."
        ) from None
    if len(data_key) != DATA_KEY_SIZE:
        raise ArtifactIntegrityError(
            "The stored file failed its integrity check (its data key has the wrong size); "
            "it was not used."
        )
    return data_key


def is_encrypted(prefix: bytes) -> bool:
    """Whether an object starting with ``prefix`` (at least 8 bytes) is in this format."""
    return prefix[: len(MAGIC)] == MAGIC


def chunk_count(plaintext_size: int, chunk_size: int) -> int:
    return max(1, -(-plaintext_size // chunk_size))


def encrypted_size(plaintext_size: int, chunk_size: int = CHUNK_SIZE) -> int:
    return HEADER_SIZE + plaintext_size + TAG_SIZE * chunk_count(plaintext_size, chunk_size)


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _read_exact(source: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of ``source`` (streams return short reads)."""
    parts, missing = [], size
    while missing:
        part = source.read(missing)
        if not part:
            break
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


class _ChunkReader(io.RawIOBase):
    """A read-only, non-seekable stream that produces its bytes one chunk at a time."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._buffer = memoryview(b"")
        self._done = False

    def _next_chunk(self) -> bytes | None:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            if self._done:
                return 0
            chunk = self._next_chunk()
            if chunk is None:
                self._done = True
                return 0
            self._buffer = memoryview(chunk)
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        return super().read(size) or b""

    def readall(self) -> bytes:
        parts = []
        while chunk := self.read(CHUNK_SIZE):
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        try:
            self._source.close()
        finally:
            super().close()


class EncryptingReader(_ChunkReader):
    """Reads ``plaintext_size`` bytes from ``source`` and gives the encrypted object.

    Raises ``ValueError`` when ``source`` holds more or fewer bytes than announced (a file that
    changed while it was being stored).
    """

    def __init__(
        self,
        source: BinaryIO,
        data_key: bytes,
        plaintext_size: int,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        super().__init__(source)
        if not 1 <= chunk_size <= _MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size {chunk_size} is out of range")
        self._aead = AESGCM(data_key)
        self._header = _HEADER.pack(MAGIC, FORMAT_VERSION, chunk_size, plaintext_size)
        self._chunk_size = chunk_size
        self._size = plaintext_size
        self._count = chunk_count(plaintext_size, chunk_size)
        self._index = -1  # the header comes first

    def _next_chunk(self) -> bytes | None:
        if self._index == -1:
            self._index = 0
            return self._header
        if self._index == self._count:
            if self._source.read(1):
                raise ValueError("the file grew while it was being encrypted")
            return None
        index, last = self._index, self._index == self._count - 1
        want = min(self._chunk_size, self._size - index * self._chunk_size)
        plain = _read_exact(self._source, want)
        if len(plain) != want:
            raise ValueError("the file shrank while it was being encrypted")
        self._index += 1
        return self._aead.encrypt(_nonce(index, last), plain, self._header)


class DecryptingReader(_ChunkReader):
    """The plaintext of an encrypted object, authenticated chunk by chunk.

    The header and the first chunk are read and checked when the reader is made, so a damaged
    header, a wrong data key, a damaged first chunk and (with ``stored_size``) a truncated or
    extended object raise ``ArtifactIntegrityError`` before anything is handed out. A later
    chunk that fails raises it from ``read``; the bytes before it were authentic.
    Error details never name the object (they reach API clients); ``on_failure`` is called
    with the error before it is raised, for logs and the audit.
    """

    def __init__(
        self,
        source: BinaryIO,
        data_key: bytes,
        *,
        stored_size: int | None = None,
        on_failure: Callable[[ArtifactIntegrityError], None] | None = None,
    ) -> None:
        super().__init__(source)
        self._on_failure = on_failure
        header = _read_exact(source, HEADER_SIZE)
        if len(header) != HEADER_SIZE or not is_encrypted(header):
            self._fail("its header is missing or damaged")
        _magic, version, chunk_size, size = _HEADER.unpack(header)
        if version != FORMAT_VERSION:
            self._fail(f"its format version {version} is unknown")
        if not 1 <= chunk_size <= _MAX_CHUNK_SIZE:
            self._fail("its header is damaged")
        if stored_size is not None and stored_size != encrypted_size(size, chunk_size):
            self._fail("it is truncated or has extra bytes")
        self._aead = AESGCM(data_key)
        self._header = header
        self._chunk_size = chunk_size
        self.size = size  # of the plaintext, authenticated by the first chunk's tag
        self._count = chunk_count(size, chunk_size)
        self._index = 0
        self._first: bytes | None = self._decrypt_next()

    def _fail(self, why: str) -> NoReturn:
        error = ArtifactIntegrityError(
            f"The stored file failed its integrity check ({why}); it was not used."
        )
        if self._on_failure is not None:
            self._on_failure(error)
        raise error

    def _decrypt_next(self) -> bytes:
        index, last = self._index, self._index == self._count - 1
        want = min(self._chunk_size, self.size - index * self._chunk_size) + TAG_SIZE
        sealed = _read_exact(self._source, want)
        if len(sealed) != want:
            self._fail("it is truncated")
        try:
            plain = self._aead.decrypt(_nonce(index, last), sealed, self._header)
        except InvalidTag:
            self._fail(f"chunk {index} does not authenticate")
        if last and self._source.read(1):
            self._fail("it has extra bytes")
        self._index += 1
        return plain

    def _next_chunk(self) -> bytes | None:
        if self._first is not None:
            chunk, self._first = self._first, None
            return chunk
        if self._index == self._count:
            return None
        return self._decrypt_next()
