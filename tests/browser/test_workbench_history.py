"""Job history in a real browser: filter the history, pick two runs and compare them (settings
diff with the changes highlighted, both results in one plot), page through the results table,
and download the result in the three formats, each equal to the API's JSON value for value.

The jobs' results are stored the way the run task stores them (no worker needed: what is
tested here is reading them back)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from accounts.factories import UserFactory
from execution.tests import matreader
from execution.tests.fixtures import storage_dirs
from execution.tests.results_fixtures import (
    csv_as_json,
    damped,
    finished_job,
    version_with_units,
)
from tests.browser.conftest import csp_violations, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FIXTURES = (storage_dirs,)
PASSWORD = "correct horse battery staple"


def _as_json(columns: dict[str, list]) -> dict[str, list]:
    return {
        name: [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]
        for name, values in columns.items()
    }


def _download(page, link_name: str) -> bytes:
    with page.expect_download() as info:
        page.locator(".results-table .downloads").get_by_role("link", name=link_name).click()
    return Path(info.value.path()).read_bytes()


def test_engineer_filters_history_compares_two_runs_and_downloads_three_formats(
    page, live_server, storage_dirs
):
    engineer = UserFactory(email="engineer@example.com", display_name="Eve Engineer")
    spring = version_with_units(engineer, package__name="Spring mass")
    other_model = version_with_units(engineer, package__name="Heat tank")
    soft = finished_job(
        engineer, spring, damped(1500, k=1.0, nan_at=7), {"start_values": {"k": 1.0}}
    )
    stiff = finished_job(
        engineer,
        spring,
        damped(900, k=4.0),
        {"start_values": {"k": 4.0}, "stop_time": 20.0},
    )
    finished_job(engineer, other_model, damped(10))

    log_in(page, engineer.email, PASSWORD)
    page.goto("/jobs/")
    shot(page, "workbench-history-01-job-list")

    # Filter the history by model: a plain GET form.
    page.get_by_label("Model", exact=True).select_option(label="Spring mass")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"/jobs/\?.*model="))
    assert page.locator("#compare-form tbody tr").count() == 2
    shot(page, "workbench-history-02-filtered")

    # Pick two runs and compare them.
    page.get_by_label(f"Compare job {str(soft.pk)[:8]} as A").check()
    page.get_by_label(f"Compare job {str(stiff.pk)[:8]} as B").check()
    page.get_by_role("button", name="Compare A with B").click()
    page.wait_for_url(re.compile(r"/jobs/compare/\?"))
    assert dict(parse_qsl(urlsplit(page.url).query)) == {"a": str(soft.pk), "b": str(stiff.pk)}
    changed = page.locator("#settings-diff tr.changed th")
    assert sorted(text.replace("changed", "").strip() for text in changed.all_inner_texts()) == [
        "Stop time [s]",
        "k [N/m]",
    ]
    plot = page.get_by_alt_text("Results of runs A and B overlaid")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=plot.element_handle(), timeout=30_000
    )
    shot(page, "workbench-history-03-compare")

    # Run A's page: the results table, paged on the server.
    page.get_by_role("link", name=str(soft.pk)[:8]).click()
    page.wait_for_url(re.compile(rf"/jobs/{soft.pk}/"))
    table = page.locator(".results-table")
    table.get_by_text("Rows 1–50 of 1500").wait_for()
    assert table.get_by_role("columnheader", name="x [m]").count() == 1
    table.get_by_role("link", name="Next").click()
    page.wait_for_url(re.compile(r"table_page=2"))
    table.get_by_text("Rows 51–100 of 1500").wait_for()
    shot(page, "workbench-history-04-results-table")

    # The three downloads hold exactly what the API's JSON holds, every row.
    api = page.request.get(f"/api/v1/jobs/{soft.pk}/results")
    assert api.ok
    expected = api.json()["columns"]
    assert len(expected["time"]) == 1500 and expected["x"][7] is None
    json_file = _download(page, "JSON")
    csv_file = _download(page, "CSV")
    mat_file = _download(page, "MATLAB (.mat)")
    assert _as_json(json.loads(json_file)["columns"]) == expected
    assert csv_as_json(csv_file, expected) == expected
    assert _as_json({k: v.tolist() for k, v in matreader.columns(mat_file).items()}) == expected
    assert csp_violations(page) == []


def test_history_and_compare_work_with_javascript_off(browser, live_server, storage_dirs):
    engineer = UserFactory(email="nojs@example.com")
    version = version_with_units(engineer, package__name="Spring mass")
    a = finished_job(engineer, version, damped(300, k=1.0), {"start_values": {"k": 1.0}})
    b = finished_job(engineer, version, damped(300, k=9.0), {"start_values": {"k": 9.0}})
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, engineer.email, PASSWORD)
        page.goto("/jobs/")
        page.get_by_label("Status", exact=True).select_option("succeeded")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"status=succeeded"))
        page.get_by_label(f"Compare job {str(a.pk)[:8]} as A").check()
        page.get_by_label(f"Compare job {str(b.pk)[:8]} as B").check()
        page.get_by_role("button", name="Compare A with B").click()
        page.wait_for_url(re.compile(r"/jobs/compare/\?"))
        assert page.locator("#settings-diff tr.changed").count() == 1
        plot = page.get_by_alt_text("Results of runs A and B overlaid")
        assert plot.evaluate("img => img.complete && img.naturalWidth > 0") is True
        page.get_by_label("Variables").fill("v")
        page.get_by_role("button", name="Plot").click()
        page.wait_for_url(re.compile(r"variables=v"))
        assert "variables=v" in (plot.get_attribute("src") or "")
        shot(page, "workbench-history-05-compare-no-js")
    finally:
        context.close()
