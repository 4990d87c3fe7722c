"""A small, independent MAT-file (level 5) reader for the tests: it follows the published format
(MathWorks, "MAT-File Format", level 5), not the writer's code, so a writer bug cannot hide
behind a reader with the same bug. It accepts both tag forms (normal and small data element)
and both byte orders; compressed elements (miCOMPRESSED, v7) are refused."""

from __future__ import annotations

import struct
from typing import Literal

import numpy as np

ELEMENT_DTYPES = {
    1: "i1",
    2: "u1",
    3: "i2",
    4: "u2",
    5: "i4",
    6: "u4",
    7: "f4",
    9: "f8",
    12: "i8",
    13: "u8",
    16: "u1",  # miUTF8
    17: "u2",  # miUTF16
}
CLASS_DTYPES = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4"}
CLASS_DTYPES |= {14: "i8", 15: "u8"}
MI_MATRIX, MX_CHAR = 14, 4


class MatFile:
    def __init__(self, data: bytes) -> None:
        if len(data) < 128:
            raise ValueError("shorter than a MAT-file header")
        self.text = data[:116].decode("ascii").rstrip()
        mark = data[126:128]
        if mark not in (b"IM", b"MI"):
            raise ValueError(f"bad endian indicator {mark!r}")
        self.order: Literal["<", ">"] = "<" if mark == b"IM" else ">"
        (version,) = struct.unpack(self.order + "H", data[124:126])
        if version != 0x0100:
            raise ValueError(f"version {version:#x}")
        self.data = data
        self.variables: dict[str, np.ndarray | list[str]] = {}
        self.order_of_names: list[str] = []
        offset = 128
        while offset < len(data):
            data_type, payload, offset = self._element(offset)
            if data_type != MI_MATRIX:
                raise ValueError(f"top-level element of type {data_type}")
            name, value = self._matrix(payload)
            self.variables[name] = value
            self.order_of_names.append(name)

    def _element(self, offset: int) -> tuple[int, bytes, int]:
        (first,) = struct.unpack_from(self.order + "I", self.data, offset)
        if first >> 16:  # small data element: type and size in 4 bytes, data in the next 4
            data_type, size = first & 0xFFFF, first >> 16
            return data_type, self.data[offset + 4 : offset + 4 + size], offset + 8
        data_type, size = struct.unpack_from(self.order + "II", self.data, offset)
        start = offset + 8
        end = start + size
        if end > len(self.data):
            raise ValueError("element runs past the end of the file")
        return data_type, self.data[start:end], start + size + (-size % 8)

    def _sub(self, payload: bytes) -> list[tuple[int, bytes]]:
        saved = self.data
        self.data = payload
        try:
            out, offset = [], 0
            while offset < len(payload):
                data_type, body, offset = self._element(offset)
                out.append((data_type, body))
            return out
        finally:
            self.data = saved

    def _typed(self, data_type: int, body: bytes) -> np.ndarray:
        return np.frombuffer(
            body, dtype=np.dtype(ELEMENT_DTYPES[data_type]).newbyteorder(self.order)
        )

    def _matrix(self, payload: bytes) -> tuple[str, np.ndarray | list[str]]:
        parts = self._sub(payload)
        flags = int(self._typed(*parts[0])[0])
        array_class, logical, is_complex = flags & 0xFF, bool(flags & 0x0200), bool(flags & 0x0800)
        dims = tuple(int(d) for d in self._typed(*parts[1]))
        name = parts[2][1].decode("ascii")
        if is_complex:
            raise ValueError("complex values are not expected")
        values = self._typed(*parts[3])
        if array_class == MX_CHAR:
            if parts[3][0] == 16:
                raise ValueError("UTF-8 char data is not expected")
            grid = values.reshape(dims, order="F")
            return name, [
                row.astype(self.order + "u2")
                .tobytes()
                .decode("utf-16-le" if self.order == "<" else "utf-16-be")
                .rstrip(" ")
                for row in grid
            ]
        # The stored data type may be narrower than the class (MATLAB compresses); widen it.
        array = values.astype(CLASS_DTYPES[array_class]).reshape(dims, order="F")
        return name, array.astype(bool) if logical else array


def read_mat(data: bytes) -> MatFile:
    return MatFile(data)


def columns(data: bytes) -> dict[str, np.ndarray]:
    """The file's columns by their original names (through ``names``/``matlab_names``)."""
    mat = read_mat(data)
    names = mat.variables["names"]
    identifiers = mat.variables["matlab_names"]
    assert isinstance(names, list) and isinstance(identifiers, list)
    out = {}
    for name, identifier in zip(names, identifiers, strict=True):
        value = mat.variables[identifier]
        out[name] = value[:, 0] if isinstance(value, np.ndarray) else np.asarray(value)
    return out
