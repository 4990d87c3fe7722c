"""The benchmark scripts (``make bench``) are not run by the suite; what they share is."""

import importlib
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from execution.tests.fixtures import storage_dirs

BENCH = Path(__file__).resolve().parent.parent / "bench"
FIXTURES = (storage_dirs,)


@pytest.fixture
def bench_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    yield
    for name in (
        "bench_search",
        "bench_license_verify",
        "bench_plot_display",
        "_execution_harness",
        "_server",
        "_search_baseline_app",
    ):
        sys.modules.pop(name, None)


def test_search_benchmark_serves_from_its_own_database(bench_modules, tmp_path):
    bench_search = importlib.import_module("bench_search")  # from bench/, not a package

    env = bench_search.search_server_env(tmp_path)

    assert env["DATABASE_URL"].rsplit("/", 1)[1] == "fmugw_bench_search"
    assert env["VAR_DIR"] == str(tmp_path)
    assert env["DEBUG"] == "false"


@pytest.mark.django_db
def test_plot_display_benchmark_checks_and_compares_both_answers(bench_modules, storage_dirs):
    bench = importlib.import_module("bench_plot_display")
    user, job = bench.stored_job(5_000)
    client = APIClient()
    client.force_authenticate(user)

    figures = bench.measure(client, job.pk, rows=5_000, repeats=1, max_points=200)

    assert figures.rows == 5_000 and figures.points <= 200
    assert figures.full_bytes > 10 * figures.display_bytes
    assert "ratio full/display" in bench.report(figures)
