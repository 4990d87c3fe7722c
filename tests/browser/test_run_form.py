"""The run form in a real browser: generated from the bouncing ball's variables, an out-of-range
value refused inline before anything is sent, fixed, shared as a link, run (real worker), and
the job page reached. Without JavaScript the share button still gives the link. The filter box
finds a variable among many."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest

from accounts.factories import UserFactory
from execution.models import SimulationJob
from execution.tests.fixtures import wait_for
from registry.factories import PackageFactory, PackageVersionFactory
from registry.models import Package, PackageVersion, Variable
from registry.tests.fixtures import upload_sample
from tests.browser.conftest import csp_violations, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def ball(sample_fmus):
    package = PackageFactory(slug="bouncing-ball", name="Bouncing Ball", is_free=True)
    version = upload_sample(package, sample_fmus[("bouncing_ball", "2.0")], with_vector=False)
    PackageVersion.objects.filter(pk=version.pk).update(validation_status="passed")
    Package.objects.filter(pk=package.pk).update(status=Package.Status.LISTED)
    return package


@pytest.mark.worker
def test_fill_the_generated_form_fix_a_refused_value_share_and_run(
    celery_worker_process, ball, page
):
    user = UserFactory(email="engineer@example.com")
    log_in(page, user.email, PASSWORD)
    page.goto("/packages/bouncing-ball/#run")
    form = page.locator("#run-form")
    form.get_by_text("Parameters (3)").wait_for()
    stop = form.get_by_label("Stop time (s)")
    stop.fill("-1")  # a rule HTML cannot express: runform.js checks it like the API
    restitution = form.locator('[name="run.e"]')
    restitution.fill("1.5")  # at most 1
    form.locator('[name="run.h"]').fill("2")

    form.get_by_role("button", name="Run simulation").click()

    error = page.locator(f"#{restitution.get_attribute('id')}-error")
    error.wait_for()
    assert error.inner_text() == "Must be at most 1.0."
    assert restitution.get_attribute("aria-invalid") == "true"
    assert page.locator("#run-stop-error").inner_text() == "Stop time must be after the start time."
    assert re.search(r"/packages/bouncing-ball/#run$", page.url)  # nothing was sent
    assert not SimulationJob.objects.exists()
    shot(page, "workbench-form-01-refused-inline")

    restitution.fill("0.8")
    stop.fill("3")
    assert error.inner_text() == "" and page.locator("#run-stop-error").inner_text() == ""
    form.get_by_role("button", name="Share this configuration").click()
    link = page.locator("#run-share-url")
    link.wait_for()
    shared = urlsplit(link.input_value())
    assert shared.path == "/packages/bouncing-ball/versions/1.0.0/"
    assert parse_qsl(shared.query) == [("run.stop_time", "3"), ("run.e", "0.8"), ("run.h", "2")]
    shot(page, "workbench-form-02-share-link")

    form.get_by_role("button", name="Run simulation").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/"))
    job = SimulationJob.objects.get(owner=user)
    assert job.settings["stop_time"] == 3 and job.settings["start_values"] == {"e": 0.8, "h": 2}
    job = wait_for(lambda: SimulationJob.objects.get(pk=job.pk), lambda j: j.finished, timeout=90)
    assert job.status == "succeeded", (job.error_code, job.error_message)
    page.locator("#job-status", has_text="Succeeded").wait_for(timeout=30_000)  # it updates live
    shot(page, "workbench-form-03-job-page")

    # The shared link opens the same form, filled in, in another session.
    page.goto(link_path := shared.path + "?" + shared.query + "#run")
    assert page.locator('[name="run.e"]').input_value() == "0.8", link_path
    assert page.get_by_label("Stop time (s)").input_value() == "3"
    assert csp_violations(page) == []


def test_without_javascript_the_server_refuses_and_the_share_button_gives_the_link(
    browser, live_server, ball
):
    user = UserFactory(email="nojs@example.com")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, user.email, PASSWORD)
        page.goto("/packages/bouncing-ball/#run")
        form = page.locator("#run-form")
        form.locator('[name="run.e"]').fill("0.6")
        form.get_by_role("button", name="Share this configuration").click()
        page.wait_for_url(re.compile(r"/versions/1\.0\.0/\?run\.e=0\.6#run$"))
        assert page.locator('[name="run.e"]').input_value() == "0.6"

        # A rule HTML cannot express (stop after start): the server refuses, next to the field.
        form.get_by_label("Stop time (s)").fill("-5")
        form.get_by_role("button", name="Run simulation").click()
        page.get_by_text("stop_time must be after start_time.").wait_for()
        assert page.locator('[name="run.e"]').input_value() == "0.6"
        shot(page, "workbench-form-04-server-refusal-without-js")
    finally:
        context.close()


def test_the_filter_box_finds_a_variable_among_many(page):
    owner = UserFactory(email="owner@example.com")
    version = PackageVersionFactory(
        package__owner=owner, supports_co_simulation=True, validation_status="passed"
    )
    Variable.objects.bulk_create(
        Variable(
            version=version,
            name=f"gain{index}",
            value_reference=index,
            causality="parameter",
            variability="fixed",
            initial="exact",
            type="Real",
            start="1",
            description="damping of the pump" if index == 7 else "a gain",
        )
        for index in range(20)
    )
    log_in(page, owner.email, PASSWORD)
    page.goto(version.package.get_absolute_url() + "#run")
    group = page.locator("#run-group-parameters")
    assert group.get_attribute("open") is None  # 20 fields: collapsed

    page.get_by_label("Filter variables").fill("pump")

    assert group.get_attribute("open") is not None
    assert page.locator('[name="run.gain7"]').is_visible()
    assert not page.locator('[name="run.gain8"]').is_visible()
    shot(page, "workbench-form-05-filter")
