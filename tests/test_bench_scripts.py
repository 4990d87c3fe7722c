"""The benchmark scripts (``make bench``) are not run by the suite; what they share is."""

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def bench_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    yield
    for name in ("bench_search", "bench_license_verify", "_server", "_search_baseline_app"):
        sys.modules.pop(name, None)


def test_search_benchmark_serves_from_its_own_database(bench_modules, tmp_path):
    bench_search = importlib.import_module("bench_search")  # from bench/, not a package

    env = bench_search.search_server_env(tmp_path)

    assert env["DATABASE_URL"].rsplit("/", 1)[1] == "fmugw_bench_search"
    assert env["VAR_DIR"] == str(tmp_path)
    assert env["DEBUG"] == "false"
