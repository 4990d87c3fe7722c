"""MATLAB MAT-files (level 5, the format ``save -v6`` writes and every MATLAB, Octave, scipy and
Julia reads), written with numpy alone.

Parquet or MAT v7.3 (HDF5) would need pyarrow or h5py; this format is small and frozen: a
128-byte header, then one ``miMATRIX`` element per variable, each tag and payload aligned to 8
bytes, little-endian. Values keep their type (doubles stay doubles bit for bit, integers stay
integers of the same width, booleans are MATLAB logicals): a download is never rounded.

MATLAB names allow letters, digits and underscores only (a letter first, at most 63
characters), so each column gets a MATLAB name (``der(x)`` -> ``der_x``) and two char matrices
say which is which: row i of ``names`` is the original name of row i of ``matlab_names``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

# Data types of elements (MAT-file format, table 1-1) and array classes (table 1-3).
MI_INT8, MI_UINT8, MI_INT16, MI_UINT16, MI_INT32, MI_UINT32 = 1, 2, 3, 4, 5, 6
MI_SINGLE, MI_DOUBLE, MI_INT64, MI_UINT64, MI_MATRIX = 7, 9, 12, 13, 14
MX_CHAR = 4
LOGICAL_FLAG = 0x0200
# numpy kind + item size -> (array class, element data type)
NUMERIC = {
    "f8": (6, MI_DOUBLE),
    "f4": (7, MI_SINGLE),
    "i1": (8, MI_INT8),
    "u1": (9, MI_UINT8),
    "i2": (10, MI_INT16),
    "u2": (11, MI_UINT16),
    "i4": (12, MI_INT32),
    "u4": (13, MI_UINT32),
    "i8": (14, MI_INT64),
    "u8": (15, MI_UINT64),
}
NAME_MAX = 63  # MATLAB's namelengthmax
INDEX_VARIABLES = ("names", "matlab_names")
MAX_ELEMENT_BYTES = 2**32 - 1  # element sizes are 32-bit


class MatFileTooLarge(ValueError):
    """A variable is larger than a level-5 MAT-file can hold (4 GiB)."""


def matlab_name(name: str, taken: set[str]) -> str:
    """A valid MATLAB variable name for ``name``, different from every name in ``taken`` (and
    added to it)."""
    base = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", name)).strip("_")
    if not base or not base[0].isalpha():
        base = f"v_{base}".rstrip("_")
    base = base[:NAME_MAX]
    candidate, counter = base, 1
    while candidate in taken:
        counter += 1
        suffix = f"_{counter}"
        candidate = base[: NAME_MAX - len(suffix)] + suffix
    taken.add(candidate)
    return candidate


def _element(data_type: int, payload: bytes) -> bytes:
    padding = b"\0" * (-len(payload) % 8)
    return struct.pack("<II", data_type, len(payload)) + payload + padding


def _matrix(
    name: str, array_class: int, dims: tuple[int, int], data_type: int, data: bytes, flags: int = 0
) -> bytes:
    if len(data) > MAX_ELEMENT_BYTES - 64:
        raise MatFileTooLarge(f"{name} is larger than a MAT-file variable may be (4 GiB).")
    body = (
        _element(MI_UINT32, struct.pack("<II", array_class | flags, 0))
        + _element(MI_INT32, struct.pack("<ii", *dims))
        + _element(MI_INT8, name.encode("ascii"))
        + _element(data_type, data)
    )
    return struct.pack("<II", MI_MATRIX, len(body)) + body


def _char_matrix(name: str, rows: Sequence[str]) -> bytes:
    """Rows of text, padded with spaces (as MATLAB pads char arrays), as UTF-16 code units."""
    units = [np.frombuffer(row.encode("utf-16-le"), dtype="<u2") for row in rows]
    width = max((len(row) for row in units), default=0)
    grid = np.full((len(units), width), ord(" "), dtype="<u2")
    for index, row in enumerate(units):
        grid[index, : len(row)] = row
    return _matrix(name, MX_CHAR, (len(units), width), MI_UINT16, grid.tobytes(order="F"))


def _column(name: str, values: np.ndarray) -> bytes:
    values = np.asarray(values)
    if values.dtype.kind == "b":
        data = values.astype(np.uint8).tobytes()
        return _matrix(name, 9, (len(values), 1), MI_UINT8, data, LOGICAL_FLAG)
    kind = f"{values.dtype.kind}{values.dtype.itemsize}"
    if kind in NUMERIC:
        array_class, data_type = NUMERIC[kind]
        data = values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes()
        return _matrix(name, array_class, (len(values), 1), data_type, data)
    # Text (FMI 3 String outputs): one row per sample.
    return _char_matrix(name, [str(value) for value in values.tolist()])


def header(created: datetime | None = None) -> bytes:
    """The 128-byte header: text, no subsystem data, version 0x0100, little-endian mark."""
    when = (created or datetime.now(UTC)).strftime("%a %b %d %H:%M:%S %Y")
    text = f"MATLAB 5.0 MAT-file, Platform: FMU Gateway, Created on: {when}".encode("ascii")
    return text.ljust(116, b" ")[:116] + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"


def write_mat(columns: Sequence[tuple[str, np.ndarray]], created: datetime | None = None) -> bytes:
    """A MAT-file with each (name, 1-D column) as a column vector, in order, then ``names`` and
    ``matlab_names``. The first column, ``time``, keeps its name."""
    taken = set(INDEX_VARIABLES)
    identifiers = [matlab_name(name, taken) for name, _ in columns]
    parts = [header(created)]
    parts.extend(
        _column(identifier, values)
        for identifier, (_, values) in zip(identifiers, columns, strict=True)
    )
    parts.append(_char_matrix("names", [name for name, _ in columns]))
    parts.append(_char_matrix("matlab_names", identifiers))
    return b"".join(parts)
