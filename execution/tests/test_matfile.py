"""MATLAB MAT-files of results: every value back exactly, with its type, under names MATLAB
accepts, in a file MATLAB's own readers (here: an independent reader, and scipy when present)
open."""

from __future__ import annotations

import csv
import io
import struct

import numpy as np
import pytest

from execution import matfile, results
from execution.tests import matreader
from execution.tests.results_fixtures import damped


def _exactly_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_result_reads_back_bit_for_bit_with_each_column_type():
    array = damped(1001, nan_at=17)
    array["v"][3] = np.inf
    array["v"][4] = 5e-324  # the smallest subnormal: no rounding anywhere

    columns = matreader.columns(results.mat_bytes(array))

    assert list(columns) == ["time", "x", "v", "n", "on"]
    for name in array.dtype.names:
        assert _exactly_equal(columns[name], np.ascontiguousarray(array[name])), name
    assert columns["n"].dtype == np.int32 and columns["on"].dtype == np.bool_


@pytest.mark.parametrize(
    ("dtype", "values"),
    [
        ("<i8", [2**62 + 1, -(2**63), 2**63 - 1]),  # beyond a double's 53 bits
        ("<u8", [0, 2**64 - 1, 2**53 + 1]),
        ("<f4", [1.1, -0.0, 3.4e38]),
        ("<i1", [-128, 0, 127]),
        ("<u2", [0, 65535, 7]),
        (">f8", [0.1, 0.2, 0.30000000000000004]),  # big-endian input is written little-endian
    ],
)
def test_integer_and_single_columns_keep_their_type_and_value(dtype, values):
    column = np.asarray(values, dtype=dtype)

    mat = matreader.read_mat(matfile.write_mat([("time", np.arange(3.0)), ("y", column)]))

    read = mat.variables["y"]
    assert isinstance(read, np.ndarray) and read.shape == (3, 1)
    assert read[:, 0].tolist() == column.tolist()
    assert read.dtype == column.dtype.newbyteorder("=")


def test_names_are_valid_matlab_identifiers_and_map_back_to_the_model_names():
    names = ["time", "der(x)", "a.b.c", "x[1]", "1st", "names", "matlab_names", "Über", "a_b_c"]
    names.append("y" * 80)
    array = [(name, np.arange(2.0) + index) for index, name in enumerate(names)]

    mat = matreader.read_mat(matfile.write_mat(array))

    identifiers = mat.variables["matlab_names"]
    assert mat.variables["names"] == names
    assert identifiers[:5] == ["time", "der_x", "a_b_c", "x_1", "v_1st"]
    assert "names" not in identifiers and "matlab_names" not in identifiers
    assert len(set(identifiers)) == len(identifiers)
    for identifier in identifiers:
        assert len(identifier) <= 63 and identifier[0].isalpha(), identifier
        assert identifier.replace("_", "").isalnum() and identifier.isascii(), identifier
    for index, identifier in enumerate(identifiers):
        assert mat.variables[identifier][:, 0].tolist() == [index, index + 1.0]


def test_array_variables_become_one_column_per_element_like_the_csv():
    array = np.zeros(3, dtype=[("time", "f8"), ("m", "f8", (2, 2))])
    array["time"] = [0.0, 0.5, 1.0]
    array["m"] = np.arange(12.0).reshape(3, 2, 2)

    columns = matreader.columns(results.mat_bytes(array))

    header = next(csv.reader(io.StringIO(results.csv_bytes(array).decode())))
    assert list(columns) == header
    assert columns["m[1,2]"].tolist() == [1.0, 5.0, 9.0]
    assert columns["m[2,1]"].tolist() == [2.0, 6.0, 10.0]


def test_an_empty_result_is_a_valid_file_with_empty_columns():
    columns = matreader.columns(results.mat_bytes(damped(0)))

    assert list(columns) == ["time", "x", "v", "n", "on"]
    assert all(column.size == 0 for column in columns.values())


def test_file_layout_header_and_alignment():
    data = results.mat_bytes(damped(5))

    assert data[:19] == b"MATLAB 5.0 MAT-file"
    assert struct.unpack("<H", data[124:126]) == (0x0100,) and data[126:128] == b"IM"
    offset, elements = 128, 0
    while offset < len(data):
        data_type, size = struct.unpack_from("<II", data, offset)
        assert data_type == matfile.MI_MATRIX and size % 8 == 0
        offset += 8 + size
        elements += 1
    assert offset == len(data) and elements == 5 + 2


def test_string_columns_are_char_rows():
    texts = np.asarray(["on", "off", "über"], dtype=object)

    mat = matreader.read_mat(matfile.write_mat([("time", np.arange(3.0)), ("mode", texts)]))

    assert mat.variables["mode"] == ["on", "off", "über"]


def test_scipy_reads_the_file_the_same_way():
    scipy_io = pytest.importorskip("scipy.io", reason="scipy is not installed (a cross-check)")
    array = damped(101, nan_at=3)

    loaded = scipy_io.loadmat(io.BytesIO(results.mat_bytes(array)))

    for name in array.dtype.names:
        assert np.array_equal(loaded[name][:, 0], array[name], equal_nan=True), name
    assert [str(row).rstrip() for row in loaded["names"]] == list(array.dtype.names)
