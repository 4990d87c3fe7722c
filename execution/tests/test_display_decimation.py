"""Decimation of results for display (``results.display_rows``): what a plot keeps of a long
result. Never used for downloads (see test_results_display.py)."""

from __future__ import annotations

import numpy as np

from execution import results


def series(rows: int, **columns) -> np.ndarray:
    dtype = [("time", "f8"), *((name, "f8") for name in columns)]
    array = np.zeros(rows, dtype=dtype)
    array["time"] = np.linspace(0.0, 10.0, rows)
    for name, values in columns.items():
        array[name] = values
    return array


def test_a_result_within_the_limit_is_shown_exactly():
    array = series(1500, h=np.sin(np.arange(1500)))

    rows = results.display_rows(array, ["h"], 2000)

    assert np.array_equal(rows, np.arange(1500))


def test_a_one_sample_peak_and_dip_survive_a_million_rows():
    h = np.sin(np.linspace(0, 40, 1_000_000))
    h[123_457] = 7.5  # one sample wide: every other sample is within [-1, 1]
    h[654_321] = -4.25
    array = series(1_000_000, h=h)

    rows = results.display_rows(array, ["h"], 2000)
    shown = array[rows]

    assert len(rows) <= 2000
    assert {123_457, 654_321} <= set(rows.tolist())
    assert shown["h"].max() == 7.5 and shown["h"].min() == -4.25
    assert np.all(np.diff(rows) > 0)  # in time order, no row twice


def test_the_first_and_last_rows_are_kept():
    array = series(100_001, h=np.linspace(1.0, 2.0, 100_001))

    rows = results.display_rows(array, ["h"], 500)

    assert rows[0] == 0 and rows[-1] == 100_000
    assert array["time"][rows][0] == 0.0 and array["time"][rows][-1] == 10.0


def test_every_column_keeps_its_own_extremes_within_the_limit():
    rows_total = 200_000
    a = np.zeros(rows_total)
    b = np.zeros(rows_total)
    a[10] = 1.0
    b[199_990] = -1.0
    array = series(rows_total, a=a, b=b, c=np.cos(np.arange(rows_total) / 1000))

    rows = results.display_rows(array, ["a", "b", "c"], 1000)

    assert len(rows) <= 1000
    assert {10, 199_990} <= set(rows.tolist())
    assert np.isclose(array["c"][rows].max(), array["c"].max())


def test_missing_values_never_hide_the_extremes_and_an_empty_column_is_harmless():
    h = np.ones(50_000)
    h[::3] = np.nan
    h[40_001] = 9.0
    array = series(50_000, h=h, gone=np.full(50_000, np.nan))

    rows = results.display_rows(array, ["h", "gone"], 300)

    assert len(rows) <= 300
    assert 40_001 in rows
    assert np.nanmax(array["h"][rows]) == 9.0


def test_array_variables_keep_each_elements_extremes():
    array = np.zeros(30_000, dtype=[("time", "f8"), ("x", "f8", (2,))])
    array["time"] = np.arange(30_000)
    array["x"][777, 1] = 5.0

    rows = results.display_rows(array, ["x"], 200)

    assert 777 in rows and len(rows) <= 200


def test_time_alone_is_thinned_evenly():
    array = series(10_000)

    rows = results.display_rows(array, [], 100)

    assert rows[0] == 0 and rows[-1] == 9_999 and len(rows) <= 100
    assert np.ptp(np.diff(rows[1:-1])) <= 1  # evenly spaced
