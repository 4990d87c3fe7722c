"""The job page updates live: opened while the job waits for a worker, it turns Succeeded in
place (no reload: a marker set on the page survives until the status changes), then loads
the finished page once and the plot appears."""

from __future__ import annotations

import pytest

from accounts.factories import UserFactory
from execution.models import JobStatus
from execution.services import jobs as job_services
from registry.models import PackageVersion
from tests.browser.conftest import csp_violations, log_in, shot
from tests.browser.test_run_form import PASSWORD, ball  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_queued_job_page_turns_succeeded_without_a_reload_and_shows_the_plot(
    request,
    ball,  # noqa: F811
    page,
    monkeypatch,
):
    from execution.tasks import run_job_task

    user = UserFactory(email="live@example.com")
    version = PackageVersion.objects.select_related("package").get(package=ball)
    # Queued and not yet sent: a worker an earlier test started must not run it before the
    # page is open; the test sends it below.
    with monkeypatch.context() as unsent:
        unsent.setattr(run_job_task, "apply_async", lambda *args, **kwargs: None)
        job = job_services.submit_job(user, version, {"stop_time": 3.0})
    log_in(page, user.email, PASSWORD)
    page.goto(job.get_absolute_url())
    assert page.locator("#job-status").inner_text() == "Queued"
    page.locator("[data-live-note]", has_text="updates live").wait_for()
    # Watch the badge of this very document: a reload would drop the observer, so a logged
    # "Succeeded" proves the status changed in place.
    changes: list[str] = []
    page.on("console", lambda message: changes.append(message.text))
    loads: list[str] = []
    page.on("framenavigated", lambda frame: loads.append(frame.url))
    page.evaluate(
        """() => {
        const badge = document.getElementById("job-status");
        new MutationObserver(() => console.log("live-status:" + badge.textContent.trim()))
          .observe(badge, {childList: true, characterData: true, subtree: true});
      }"""
    )

    # The job is sent only now (to the worker, started here unless an earlier test did), so
    # the page was open before it ran.
    request.getfixturevalue("celery_worker_process")
    run_job_task.apply_async((str(job.pk),), **job_services.task_options(60))

    for _ in range(450):
        if "live-status:Succeeded" in changes:
            break
        page.wait_for_timeout(200)
    assert "live-status:Succeeded" in changes, changes
    # Then the finished page is loaded once, with the plot.
    page.locator("#result-plot").wait_for(state="visible", timeout=30_000)
    assert page.locator("#job-status").inner_text() == "Succeeded"
    assert len(loads) == 1, loads
    shot(page, "live-status-01-plot")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert page.locator("[data-live-note]").count() == 0
    assert csp_violations(page) == []
