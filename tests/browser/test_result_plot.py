"""The job page's interactive plot in Chromium (static/js/plot.js over uPlot, from npm): it
draws, drag-zooms, pans, reads values with their units on hover and overlays an earlier run;
without JavaScript the server-rendered plot is the page's plot; a 1,000,000-point result draws
from the display decimation (the time to first plot is printed and saved, not asserted).
Screenshots ``workbench-plot-*``. The results are stored as the worker stores them; no FMU runs.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from accounts.factories import UserFactory
from execution.models import SimulationJob
from execution.tests.fixtures import storage_dirs
from execution.tests.test_results_display import ball_result, ball_version, finished_job
from tests.browser.conftest import SCREENSHOTS, csp_violations, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FIXTURES = (storage_dirs,)
PASSWORD = "correct horse battery staple"
READY = "#result-plot[data-state=ready]"
VALUE = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


def x_range(page) -> tuple[float, float]:
    plot = page.locator("#result-plot")
    return float(plot.get_attribute("data-x-min")), float(plot.get_attribute("data-x-max"))


def drag(page, panel, start: float, end: float) -> None:
    """Drag across a panel's plotting area from ``start`` to ``end`` (fractions of its width)."""
    panel.scroll_into_view_if_needed()
    box = panel.locator(".u-over").bounding_box()  # in the viewport's coordinates, as the mouse
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (start + end) / 2, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * end, y, steps=5)
    page.mouse.up()


def readout_says(page, pattern: str) -> str:
    """Wait until the hover readout matches ``pattern`` (a regular expression); its text."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "pattern => new RegExp(pattern).test("
            "document.querySelector('.plot-readout').textContent)",
            arg=pattern,
        )
    except PlaywrightTimeout:
        shot(page, "workbench-plot-failed")
        shown = page.locator(".plot-readout").inner_text()
        raise AssertionError(f"the readout never matched {pattern!r}: {shown!r}") from None
    return page.locator(".plot-readout").inner_text()


def hover(page, panel, at: float) -> None:
    panel.scroll_into_view_if_needed()
    box = panel.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * at, box["y"] + box["height"] / 2, steps=3)


@pytest.fixture
def jobs(storage_dirs):
    """A user's run of the bouncing ball and an earlier run of the same version to compare."""
    user = UserFactory(email="engineer@example.com")
    version = ball_version(user)
    earlier_result = ball_result(1_001)  # within the display's points: shown exactly
    earlier_result["h"] *= 0.8
    earlier = finished_job(user, version, earlier_result)
    SimulationJob.objects.filter(pk=earlier.pk).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    job = finished_job(user, version, ball_result(1_001))
    return user, job, earlier


def test_the_plot_draws_zooms_pans_reads_values_with_units_and_overlays_a_previous_run(page, jobs):
    user, job, _earlier = jobs
    log_in(page, user.email, PASSWORD)

    page.goto(f"/jobs/{job.pk}/")
    page.locator(READY).wait_for()
    panels = page.locator("#result-plot .plot-panel")
    assert panels.count() == 3  # one per unit: m, m/s and unitless
    assert page.locator("#result-plot canvas").count() == 3
    assert not page.locator("#plot-fallback").is_visible()  # the interactive plot replaced it
    assert x_range(page) == (0.0, 3.0)
    shot(page, "workbench-plot-1-drawn")

    drag(page, panels.first, 0.25, 0.5)
    page.wait_for_function("() => document.querySelector('#result-plot').dataset.xMax < 3")
    low, high = x_range(page)
    assert 0.5 < low < high < 2.0, (low, high)
    assert re.fullmatch(rf"time {VALUE} – {VALUE} s", page.locator(".plot-range").inner_text())
    shot(page, "workbench-plot-2-zoomed")

    hover(page, panels.first, 0.5)
    text = readout_says(page, rf"h = {VALUE} m\b")
    assert re.search(rf"\bh = {VALUE} m\b", text), text
    assert re.search(rf"\bv = {VALUE} m/s\b", text), text
    assert re.search(rf"time = {VALUE} s", text), text
    shot(page, "workbench-plot-3-hover")

    page.get_by_role("button", name="Pan ▶").click()
    moved = x_range(page)
    assert moved[0] > low and moved[1] > high  # half a view to the right
    page.get_by_role("button", name="Reset zoom").click()
    assert x_range(page) == (0.0, 3.0)

    page.get_by_label(re.compile("Run of")).check()
    page.locator(".u-legend", has_text="h (run of").first.wait_for()
    page.locator(READY).wait_for()
    hover(page, panels.first, 0.02)  # near time 0: the earlier run's h is 0.8 of this one's
    text = readout_says(page, rf"time = 0\.0\d+ s .*\(run of [^)]+\) = {VALUE} m\b")
    this = float(re.search(rf"\bh = ({VALUE}) m\b", text).group(1))
    other = float(re.search(rf"\bh \(run of [^)]+\) = ({VALUE}) m\b", text).group(1))
    assert this > 0.9 and abs(other / this - 0.8) < 1e-3, text
    shot(page, "workbench-plot-4-overlay")

    page.locator("input[name=plot-variable][value=v]").uncheck()
    page.wait_for_function(
        "() => document.querySelectorAll('#result-plot .plot-panel').length == 2"
    )
    assert csp_violations(page) == []


def test_without_javascript_the_server_rendered_plot_is_the_pages_plot(browser, live_server, jobs):
    user, job, _ = jobs
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    try:
        log_in(page, user.email, PASSWORD)
        page.goto(f"/jobs/{job.pk}/")
        image = page.get_by_alt_text("Plot of the simulation result")
        image.wait_for()
        page.wait_for_load_state("load")
        assert image.bounding_box()["height"] > 200  # the SVG loaded (800 px wide, to scale)
        assert not page.locator("#result-plot").is_visible()
        assert page.get_by_role("button", name="Plot").is_visible()  # the no-JS variable choice
        shot(page, "workbench-plot-5-no-javascript")
    finally:
        context.close()


@pytest.mark.slow
def test_a_million_point_result_draws_from_the_decimated_display(page, storage_dirs):
    user = UserFactory(email="big@example.com")
    rows = 1_000_000
    array = np.zeros(rows, dtype=[("time", "f8"), ("h", "f8"), ("v", "f8")])
    array["time"] = np.linspace(0.0, 1000.0, rows)
    array["h"] = np.abs(np.cos(array["time"] / 7.0)) * np.exp(-array["time"] / 400.0)
    array["v"] = np.gradient(array["h"], array["time"])
    array["h"][777_777] = 3.0  # a one-sample spike the display must keep
    job = finished_job(user, ball_version(user), array, with_csv=False)
    log_in(page, user.email, PASSWORD)

    started = time.perf_counter()
    page.goto(f"/jobs/{job.pk}/")
    page.locator(READY).wait_for(timeout=60_000)
    wall_ms = (time.perf_counter() - started) * 1000
    first_plot_ms = float(page.locator("#result-plot").get_attribute("data-first-plot-ms"))
    message = page.locator(".plot-message").inner_text()
    assert "Showing" in message and "of 1,000,000 samples" in message
    drag(page, page.locator("#result-plot .plot-panel").first, 0.7, 0.85)
    page.wait_for_function("() => document.querySelector('#result-plot').dataset.xMax < 900")
    hover(page, page.locator("#result-plot .plot-panel").first, 0.5)
    readout_says(page, rf"h = {VALUE} m\b")
    shot(page, "workbench-plot-6-million-points")
    figures = {"rows": rows, "first_plot_ms": first_plot_ms, "goto_to_ready_ms": round(wall_ms)}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "workbench-plot-million-timing.json").write_text(
        json.dumps(figures), encoding="utf-8"
    )
    print(f"\n1,000,000-point result: time to first plot {first_plot_ms:.0f} ms ({figures})")
