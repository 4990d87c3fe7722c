"""Job history: filters by model, status and dates (without JavaScript), "re-run with edits"
links into the run form, and the compare page of two runs (settings diff, overlaid plot)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from execution import history
from execution.models import JobStatus, SimulationJob
from execution.tests.fixtures import storage_dirs
from execution.tests.results_fixtures import damped, finished_job, version_with_units

FIXTURES = (storage_dirs,)
LIST = reverse("job-list")
COMPARE = reverse("job-compare")

pytestmark = pytest.mark.django_db


def _job(owner, version, status=JobStatus.SUCCEEDED, created: datetime | None = None, **settings):
    job = SimulationJob.objects.create(
        owner=owner,
        version=version,
        sha256=version.sha256,
        status=status,
        settings={"fmi_type": "CoSimulation", "start_time": 0.0, "stop_time": 1.0, **settings},
    )
    if created is not None:
        SimulationJob.objects.filter(pk=job.pk).update(created_at=created)
    return job


def _shown(page: str) -> set[str]:
    """Ids of the jobs listed on a job list page."""
    return set(re.findall(r'<input type="radio" name="a" value="([0-9a-f-]+)"', page))


@pytest.fixture
def two_models(user):
    return version_with_units(user, package__name="Pendulum"), version_with_units(
        user, package__name="Tank"
    )


def test_history_filters_by_model_status_and_dates(client, user, two_models):
    pendulum, tank = two_models
    day = timezone.make_aware(datetime(2026, 3, 10, 12, 0))
    old_ok = _job(user, pendulum, created=day - timedelta(days=5))
    new_failed = _job(user, pendulum, JobStatus.FAILED, created=day)
    tank_ok = _job(user, tank, created=day + timedelta(days=1))
    client.force_login(user)

    def shown(**query):
        response = client.get(LIST, query)
        assert response.status_code == 200
        return _shown(response.content.decode())

    everything = {str(old_ok.pk), str(new_failed.pk), str(tank_ok.pk)}
    assert shown() == everything
    assert shown(model=pendulum.package.slug) == {str(old_ok.pk), str(new_failed.pk)}
    assert shown(status="failed") == {str(new_failed.pk)}
    assert shown(date_from="2026-03-10") == {str(new_failed.pk), str(tank_ok.pk)}
    assert shown(date_to="2026-03-10") == {str(old_ok.pk), str(new_failed.pk)}
    assert shown(date_from="2026-03-10", date_to="2026-03-10") == {str(new_failed.pk)}
    assert shown(model=tank.package.slug, status="failed") == set()
    assert (
        "No jobs match these filters." in client.get(LIST, {"status": "cancelled"}).content.decode()
    )


def test_filters_offer_only_my_models_and_refuse_what_they_do_not_know(
    client, user, other_user, two_models
):
    _job(user, two_models[0])
    theirs = version_with_units(other_user, package__name="Secret reactor")
    _job(other_user, theirs)
    client.force_login(user)

    page = client.get(LIST).content.decode()
    assert ">Pendulum</option>" in page and "Secret reactor" not in page

    refused = client.get(LIST, {"model": theirs.package.slug, "date_from": "someday"})
    text = refused.content.decode()
    assert refused.status_code == 200
    assert "Select a valid choice." in text and "Enter a valid date." in text
    assert _shown(text) == {str(SimulationJob.objects.get(owner=user).pk)}  # the rest still apply

    backwards = client.get(LIST, {"date_from": "2026-03-10", "date_to": "2026-03-01"})
    assert "The end date is before the start date." in backwards.content.decode()


def test_history_pages_keep_the_filters(client, user, two_models):
    pendulum, tank = two_models
    for _ in range(55):
        _job(user, pendulum, JobStatus.FAILED)
    _job(user, tank, JobStatus.FAILED)
    client.force_login(user)

    first = client.get(LIST, {"model": pendulum.package.slug, "status": "failed"}).content.decode()

    assert "Page 1 of 2" in first
    assert f"?model={pendulum.package.slug}&amp;status=failed&amp;page=2" in first
    second = client.get(LIST, {"model": pendulum.package.slug, "status": "failed", "page": 2})
    assert len(_shown(second.content.decode())) == 5


def test_history_does_not_grow_queries_with_its_rows(
    client, user, two_models, django_assert_max_num_queries
):
    for index in range(30):
        _job(user, two_models[index % 2], start_values={"k": float(index)})
    client.force_login(user)

    with django_assert_max_num_queries(10):
        response = client.get(LIST)

    assert len(_shown(response.content.decode())) == 30


def test_other_users_jobs_are_not_in_my_history(client, user, other_user, two_models):
    mine = _job(user, two_models[0])
    _job(other_user, version_with_units(other_user))
    client.force_login(user)

    assert _shown(client.get(LIST).content.decode()) == {str(mine.pk)}


# --- re-run with edits -------------------------------------------------------------------------


def test_rerun_link_prefills_the_run_form_with_the_jobs_settings(client, user, two_models):
    version = two_models[0]
    job = _job(
        user,
        version,
        fmi_type="ModelExchange",
        stop_time=12.5,
        output_interval=0.01,
        solver="Euler",
        relative_tolerance=1e-6,
        step_size=None,
        start_values={"k": 0.1 + 0.2, "on": True, "n": 3, "label": "Über & co"},
        outputs=["x"],
    )

    url = history.rerun_url(job)

    parts = urlsplit(url)
    assert parts.path == reverse(
        "package-version", kwargs={"slug": version.package.slug, "version": version.version}
    )
    assert parts.fragment == "run"
    assert parse_qsl(parts.query) == [  # the run form's configuration link
        ("run.fmi_type", "ME"),
        ("run.solver", "Euler"),
        ("run.start_time", "0"),
        ("run.stop_time", "12.5"),
        ("run.output_interval", "0.01"),
        ("run.relative_tolerance", "1e-06"),
        ("run.k", "0.30000000000000004"),  # exactly the value that ran
        ("run.label", "Über & co"),
        ("run.n", "3"),
        ("run.on", "true"),
    ]
    client.force_login(user)
    page = client.get(LIST).content.decode()
    assert f'href="{url.replace("&", "&amp;")}" class="rerun">Re-run with edits</a>' in page


# --- compare -----------------------------------------------------------------------------------


def _diff_rows(page: str) -> dict[str, tuple[bool, str, str]]:
    table = re.search(r'<table class="table compare".*?</table>', page, re.S)
    assert table, page
    rows = {}
    for attrs, label, a, b in re.findall(
        r'<tr( class="changed")?>\s*<th scope="row">(.*?)(?: <span class="changed-mark">'
        r"changed</span>)?</th>\s*<td>(.*?)</td><td>(.*?)</td>",
        table.group(0),
        re.S,
    ):
        rows[label] = (bool(attrs), a, b)
    return rows


@pytest.fixture
def pair(user, storage_dirs):
    version = version_with_units(user)
    a = finished_job(user, version, damped(200, k=1.0), {"start_values": {"k": 1.0}})
    b = finished_job(
        user, version, damped(300, k=4.0), {"start_values": {"k": 4.0}, "stop_time": 20.0}
    )
    return a, b


def test_compare_page_diffs_the_settings_and_marks_what_changed(client, user, pair):
    a, b = pair
    client.force_login(user)

    response = client.get(COMPARE, {"a": a.pk, "b": b.pk})

    assert response.status_code == 200
    rows = _diff_rows(response.content.decode())
    assert rows["k [N/m]"] == (True, "1.0", "4.0")
    assert rows["Stop time [s]"] == (True, "10.0", "20.0")
    assert rows["Start time [s]"] == (False, "0.0", "0.0")
    assert rows["Interface"] == (False, "CoSimulation", "CoSimulation")
    assert sum(changed for changed, _, _ in rows.values()) == 2
    assert "2 of " in response.content.decode()


def test_compare_plot_overlays_both_runs_with_units(client, user, pair):
    a, b = pair
    client.force_login(user)
    page = client.get(COMPARE, {"a": a.pk, "b": b.pk, "variables": "x,v"}).content.decode()
    src = re.search(r'<img src="([^"]+)" alt="Results of runs A and B overlaid"', page)
    assert src, page

    plot = client.get(src.group(1).replace("&amp;", "&"))

    assert plot.status_code == 200 and plot["Content-Type"] == "image/svg+xml"
    svg = plot.content.decode()
    for text in ("A: x", "B: x", "A: v", "B: v", "m/s"):
        assert text in svg, text
    png = client.get(reverse("job-compare-plot"), {"a": a.pk, "b": b.pk})
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")


def test_compare_refuses_another_users_job(client, user, other_user, moderator, pair):
    a, _ = pair
    theirs = finished_job(other_user, version_with_units(other_user), damped(10))
    client.force_login(user)

    assert client.get(COMPARE, {"a": a.pk, "b": theirs.pk}).status_code == 404
    assert client.get(COMPARE, {"a": theirs.pk, "b": a.pk}).status_code == 404
    plot = client.get(reverse("job-compare-plot"), {"a": a.pk, "b": theirs.pk})
    assert plot.status_code == 404
    client.force_login(moderator)  # moderators see every job
    assert client.get(COMPARE, {"a": a.pk, "b": theirs.pk}).status_code == 200


def test_compare_needs_two_runs(client, user, pair):
    a, _ = pair
    client.force_login(user)

    for query in ({"a": a.pk}, {"a": a.pk, "b": "nope"}, {}):
        response = client.get(COMPARE, query)
        assert response.status_code == 400
        assert "Pick two runs to compare" in response.content.decode()


def test_compare_of_a_failed_run_shows_settings_but_no_plot(client, user, pair):
    a, _ = pair
    failed = _job(user, a.version, JobStatus.FAILED)
    client.force_login(user)

    page = client.get(COMPARE, {"a": a.pk, "b": failed.pk}).content.decode()

    assert "Only runs that succeeded have results to plot" in page
    assert "compare-plot" not in page
    plot = client.get(reverse("job-compare-plot"), {"a": a.pk, "b": failed.pk})
    assert plot.status_code == 409


def test_compare_with_an_unknown_variable_says_so_and_plots_the_defaults(client, user, pair):
    a, b = pair
    client.force_login(user)

    page = client.get(COMPARE, {"a": a.pk, "b": b.pk, "variables": "nope"}).content.decode()

    assert "Not in the results: nope." in page
    assert "variables=x%2Cv%2Cn%2Con" in page
    bad = client.get(reverse("job-compare-plot"), {"a": a.pk, "b": b.pk, "variables": "nope"})
    assert bad.status_code == 400


def test_job_list_picks_two_runs_for_the_compare_page(client, user, pair):
    client.force_login(user)

    page = client.get(LIST).content.decode()

    form = re.search(r'<form method="get" action="([^"]+)" id="compare-form">', page)
    assert form and form.group(1) == COMPARE
    for job in pair:
        assert f'name="a" value="{job.pk}" required' in page
        assert f'name="b" value="{job.pk}" required' in page
