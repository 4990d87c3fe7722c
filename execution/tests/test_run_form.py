"""The package page's run form: built from the version's variables, refused values shown next
to their fields, a link that fills it in, and the same settings the API would get."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.http import QueryDict
from rest_framework.test import APIClient

from execution.forms import RunForm, configuration_url
from execution.models import SimulationJob
from execution.tests.fixtures import make_version, publish, storage_dirs  # noqa: F401
from registry.factories import PackageVersionFactory
from registry.models import Variable

# Fresh artifact and result storages for every test (the uploads write FMUs there).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("storage_dirs")]


@pytest.fixture
def ball_version(sample_fmus, creator):
    """The real bouncing ball (FMI 2.0), free and listed: anyone logged in may run it."""
    return publish(make_version(creator, sample_fmus[("bouncing_ball", "2.0")].fmu_path))


@pytest.fixture
def msd_version(sample_fmus, creator):
    return publish(make_version(creator, sample_fmus[("mass_spring_damper", "3.0")].fmu_path))


def _field(page: str, name: str) -> str:
    """The HTML of the form row whose input or select is named ``name``."""
    rows = re.findall(r'<div class="run-field[^"]*".*?</p>\s*</div>', page, re.S)
    matches = [row for row in rows if f'name="{html.escape(name)}"' in row]
    assert len(matches) == 1, f"{name}: {len(matches)} rows"
    return matches[0]


def _names(form: RunForm, group: str) -> list[str]:
    return [f.key for g in form.groups if g.key == group for f in g.fields]


def test_form_of_the_bouncing_ball_offers_its_parameters_and_start_values(ball_version):
    form = RunForm(ball_version)

    assert _names(form, "parameters") == ["g", "e", "v_min"]
    assert _names(form, "initial") == ["h", "v"]  # states with initial="exact"
    assert _names(form, "inputs") == []
    g = form.by_key["g"]
    assert (g.input_type, g.step, g.min, g.max, g.placeholder, g.unit) == (
        "number",
        "any",
        "-1000.0",
        "0.0",
        "-9.81",
        "m/s2",
    )
    assert "Gravitational acceleration" in g.help
    # Neither time, derivatives, nor calculated outputs can be set before a run.
    assert not {"time", "der(h)", "der(v)"} & set(form.by_key)


def test_form_of_an_fmi3_model_has_its_input_and_both_interfaces(msd_version):
    form = RunForm(msd_version)

    assert _names(form, "inputs") == ["F"]
    assert _names(form, "parameters") == ["m", "k", "c"]
    assert "a" not in form.by_key  # initial="calculated"
    assert form.by_key["fmi_type"].choices == [("CS", "Co-Simulation"), ("ME", "Model Exchange")]
    assert form.by_key["fmi_type"].value == "CS"  # what the API picks when none is given
    assert [value for value, _ in form.by_key["solver"].choices] == ["CVode", "Euler"]


def test_each_variable_type_gets_an_input_of_its_kind(creator, client):
    version = PackageVersionFactory(
        package__owner=creator, supports_co_simulation=True, validation_status="passed"
    )
    for index, (name, kind, start, low, high) in enumerate(
        [
            ("gain", "Real", "1.5", "0", "10"),
            ("count", "Integer", "3", "1", "5"),
            ("small", "Int8", "0", "", ""),
            ("on", "Boolean", "true", "", ""),
            ("mode", "Enumeration", "2", "1", "3"),
            ("label", "String", "hello", "", ""),
        ]
    ):
        Variable.objects.create(
            version=version,
            name=name,
            value_reference=index,
            causality="parameter",
            variability="fixed",
            initial="exact",
            type=kind,
            start=start,
            min=low,
            max=high,
        )
    client.force_login(creator)

    page = client.get(version.package.get_absolute_url()).content.decode()

    gain, count, small = (
        _field(page, "run.gain"),
        _field(page, "run.count"),
        _field(page, "run.small"),
    )
    assert 'type="number"' in gain and 'step="any"' in gain and 'max="10"' in gain
    assert 'placeholder="1.5"' in gain
    assert 'step="1"' in count and 'min="1"' in count and 'max="5"' in count
    assert 'min="-128"' in small and 'max="127"' in small  # the type's own range
    on = _field(page, "run.on")
    assert "<select" in on and '<option value="true">' in on and '<option value="false">' in on
    assert "model default (true)" in on
    mode = _field(page, "run.mode")
    assert re.findall(r'<option value="(\d*)"', mode) == ["", "1", "2", "3"]
    label = _field(page, "run.label")
    assert 'type="text"' in label and 'maxlength="10000"' in label


def test_an_out_of_range_value_is_refused_next_to_its_field_and_the_values_are_kept(
    ball_version, client, user
):
    client.force_login(user)

    response = client.post(
        "/jobs/new/",
        {
            "version_id": ball_version.pk,
            "run.e": "1.5",  # the coefficient of restitution is at most 1
            "run.h": "2",
            "run.start_time": "1",
            "run.stop_time": "0.5",
        },
    )

    assert response.status_code == 400
    assert not SimulationJob.objects.exists()
    page = response.content.decode()
    e = _field(page, "run.e")
    assert 'value="1.5"' in e and 'aria-invalid="true"' in e
    assert re.search(r'class="field-error"[^>]*>e must be at most 1\.0\.</p>', e)
    stop = _field(page, "run.stop_time")
    assert "stop_time must be after start_time" in stop
    assert page.count(" autofocus") == 1 and " autofocus" in stop  # the first refused field
    assert 'value="2"' in _field(page, "run.h") and "field-error" in _field(page, "run.h")
    assert re.search(r'class="field-error"[^>]*></p>', _field(page, "run.h"))  # no error there
    assert "Some simulation settings are invalid" in page


def test_a_link_fills_in_the_form(ball_version, client, user):
    client.force_login(user)
    url = configuration_url(ball_version, {"stop_time": 5.0, "start_values": {"e": 0.8}})

    page = client.get(url.split("#")[0] + "&run.nonsense=1").content.decode()

    assert 'value="0.8"' in _field(page, "run.e")
    assert 'value="5"' in _field(page, "run.stop_time")
    assert "ignored: nonsense" in page
    assert 'id="run-share-box"' in page and 'id="run-share-box" hidden' not in page


def test_share_button_opens_the_page_with_the_configuration_in_its_address(
    ball_version, client, user
):
    client.force_login(user)

    response = client.post(
        "/jobs/new/",
        {
            "version_id": ball_version.pk,
            "action": "share",
            "run.fmi_type": "ME",
            "run.solver": "CVode",  # the default: left out of the link
            "run.stop_time": "4",
            "run.e": "0.5",
            "run.h": "",
        },
    )

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == f"/packages/{ball_version.package.slug}/versions/1.0.0/"
    assert location.fragment == "run"
    assert parse_qsl(location.query) == [
        ("run.fmi_type", "ME"),
        ("run.stop_time", "4"),
        ("run.e", "0.5"),
    ]
    assert not SimulationJob.objects.exists()


def test_a_run_from_the_form_gets_the_settings_the_api_would_give_it(ball_version, client, user):
    client.force_login(user)
    api = APIClient()
    api.force_authenticate(user)

    response = client.post(
        "/jobs/new/",
        {
            "version_id": ball_version.pk,
            "run.fmi_type": "ME",
            "run.solver": "Euler",
            "run.stop_time": "2.5",
            "run.output_interval": "0.01",
            "run.relative_tolerance": "1e-6",
            "run.e": "0.8",
            "run.h": "3",
        },
    )
    from_api = api.post(
        "/api/v1/jobs",
        {
            "version_id": ball_version.pk,
            "fmi_type": "ME",
            "solver": "Euler",
            "stop_time": 2.5,
            "output_interval": 0.01,
            "relative_tolerance": 1e-6,
            "start_values": {"e": 0.8, "h": 3},
        },
        format="json",
    )

    assert from_api.status_code == 201, from_api.json()
    form_job = SimulationJob.objects.get(pk=response["Location"].split("/")[-2])
    api_job = SimulationJob.objects.get(pk=from_api.json()["id"])
    assert form_job.settings == api_job.settings
    assert form_job.settings["start_values"] == {"e": 0.8, "h": 3.0}
    # And the job's settings lead back to the same form.
    again = RunForm(
        ball_version, QueryDict(urlsplit(configuration_url(ball_version, form_job.settings)).query)
    )
    assert again.to_settings()["start_values"] == {"e": "0.8", "h": "3"}


def test_wrong_types_are_refused_by_the_server_with_the_api_message(creator, client):
    version = PackageVersionFactory(
        package__owner=creator, supports_co_simulation=True, validation_status="passed"
    )
    Variable.objects.create(
        version=version,
        name="count",
        value_reference=0,
        causality="parameter",
        variability="fixed",
        initial="exact",
        type="Integer",
        start="3",
        max="5",
    )
    client.force_login(creator)

    response = client.post("/jobs/new/", {"version_id": version.pk, "run.count": "2.5"})

    assert response.status_code == 400
    assert "count is an Integer: give a whole number." in _field(
        response.content.decode(), "run.count"
    )


def test_a_refusal_not_about_a_field_is_said_above_the_page_and_keeps_the_values(
    sample_fmus, creator, client, user
):
    version = publish(
        make_version(creator, sample_fmus[("bouncing_ball", "2.0")].fmu_path), free=False
    )
    client.force_login(user)  # no license: may see the package, may not run it

    response = client.post("/jobs/new/", {"version_id": version.pk, "run.e": "0.8"})

    assert response.status_code == 302
    assert response["Location"].endswith("/versions/1.0.0/?run.e=0.8#run")
    page = client.get(response["Location"]).content.decode()
    assert "You may not run this model." in page
    assert not SimulationJob.objects.exists()


def test_many_variables_start_collapsed_with_a_filter_box_and_filled_groups_open(creator, client):
    version = PackageVersionFactory(
        package__owner=creator, supports_co_simulation=True, validation_status="passed"
    )
    Variable.objects.bulk_create(
        Variable(
            version=version,
            name=f"{kind}{index}",
            value_reference=index if kind == "p" else 100 + index,
            causality="parameter" if kind == "p" else "input",
            variability="fixed" if kind == "p" else "continuous",
            initial="exact" if kind == "p" else "",
            type="Real",
            start="1",
        )
        for kind in ("p", "u")
        for index in range(12)
    )
    client.force_login(creator)

    page = client.get(version.package.get_absolute_url() + "?run.u3=2").content.decode()

    assert re.search(r'<details class="run-group" id="run-group-parameters">', page)  # closed
    assert re.search(r'<details class="run-group" id="run-group-inputs" open>', page)
    assert 'id="run-filter"' in page  # runform.js shows it (hidden without JavaScript)
    assert "Parameters <span" in page and "(12)" in page


def test_a_huge_model_shows_the_first_fields_and_a_link_still_reaches_any_variable(creator):
    from execution.forms import MAX_VARIABLE_FIELDS

    version = PackageVersionFactory(package__owner=creator, supports_co_simulation=True)
    total = MAX_VARIABLE_FIELDS + 5
    Variable.objects.bulk_create(
        Variable(
            version=version,
            name=f"p{index}",
            value_reference=index,
            causality="parameter",
            variability="fixed",
            initial="exact",
            type="Real",
            start="0",
        )
        for index in range(total)
    )
    last = f"p{total - 1}"

    form = RunForm(version, QueryDict(f"run.{last}=4"))

    assert form.truncated
    assert form.variable_count == MAX_VARIABLE_FIELDS + 1
    assert form.by_key[last].value == "4"
    assert form.to_settings() == {"fmi_type": "CS", "start_values": {last: "4"}}
