"""Settings are validated against the model description before anything is queued."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from execution.models import SimulationBatch, SimulationJob
from execution.services import SettingsInvalid, validate_settings
from execution.services.job_settings import VariableInfo, coerce_value
from execution.tests.fixtures import make_version, sample_fmus, storage_dirs

JOBS = "/api/v1/jobs"
FIXTURES = (sample_fmus, storage_dirs)  # shared fixtures (execution/tests/fixtures.py)


@pytest.fixture
def msd_version(user, sample_fmus, storage_dirs):
    return make_version(user, sample_fmus[("mass_spring_damper", "2.0")].fmu_path)


@pytest.fixture
def cs_only_version(user, hostile_fmu, storage_dirs):
    return make_version(user, hostile_fmu("good"), version="0.1.0")


def field_codes(response, field):
    body = response.json()
    assert response.status_code == 400, body
    assert body["code"] == "invalid_settings"
    return body["fields"][field]


def codes(entries):
    return [entry["code"] for entry in entries]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("given", "field", "key", "code"),
    [
        ({"start_values": {"nope": 1}}, "start_values", "nope", "unknown_variable"),
        ({"start_values": {"k": "stiff"}}, "start_values", "k", "wrong_type"),
        ({"start_values": {"k": -1}}, "start_values", "k", "below_min"),
        ({"start_values": {"a": 1.0}}, "start_values", "a", "not_settable"),
        ({"start_values": {"time": 1.0}}, "start_values", "time", "not_settable"),
        ({"inputs": {"time": [0, 1], "k": [1, 2]}}, "inputs", "k", "not_an_input"),
        ({"inputs": {"time": [0, 1], "zz": [1, 2]}}, "inputs", "zz", "unknown_variable"),
        ({"inputs": {"time": [1, 0], "F": [1, 2]}}, "inputs", "time", "time_not_monotonic"),
        ({"inputs": {"time": [0, 1], "F": [1]}}, "inputs", "F", "length_mismatch"),
    ],
)
def test_bad_variable_settings_are_400_per_variable(
    user_client, msd_version, given, field, key, code
):
    response = user_client.post(JOBS, {"version_id": msd_version.pk, **given}, format="json")
    assert code in codes(field_codes(response, f"{field}.{key}"))
    assert not SimulationJob.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("given", "field", "code"),
    [
        ({"start_time": 2, "stop_time": 1}, "stop_time", "stop_before_start"),
        ({"stop_time": "soon"}, "stop_time", "invalid_number"),
        ({"output_interval": 0}, "output_interval", "must_be_positive"),
        ({"stop_time": 1e9, "output_interval": 1e-3}, "output_interval", "too_many_output_points"),
        ({"fmi_type": "XX"}, "fmi_type", "invalid_choice"),
        ({"fmi_type": "CS", "solver": "Euler"}, "solver", "solver_needs_model_exchange"),
        ({"solver": "RK4"}, "solver", "invalid_choice"),
        ({"relative_tolerance": 2}, "relative_tolerance", "out_of_range"),
        ({"timeout_seconds": 100000}, "timeout_seconds", "timeout_too_long"),
        ({"outputs": ["x", "nope"]}, "outputs", "unknown_variable"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_bad_settings_are_400_with_field_codes(user_client, msd_version, given, field, code):
    response = user_client.post(JOBS, {"version_id": msd_version.pk, **given}, format="json")
    assert code in codes(field_codes(response, field))
    assert not SimulationJob.objects.exists()


@pytest.mark.django_db
def test_model_exchange_for_a_co_simulation_only_fmu_is_400(user_client, cs_only_version):
    response = user_client.post(
        JOBS, {"version_id": cs_only_version.pk, "fmi_type": "ME"}, format="json"
    )
    assert codes(field_codes(response, "fmi_type")) == ["fmi_type_not_supported"]
    assert not SimulationJob.objects.exists()


@pytest.mark.django_db
def test_all_problems_are_reported_at_once(user_client, msd_version):
    response = user_client.post(
        JOBS,
        {
            "version_id": msd_version.pk,
            "stop_time": -1,
            "start_values": {"k": "x", "nope": 1},
        },
        format="json",
    )
    fields = response.json()["fields"]
    assert set(fields) == {"stop_time", "start_values.k", "start_values.nope"}


@pytest.mark.django_db
def test_values_are_coerced_to_the_variable_type(msd_version, user):
    effective = validate_settings(
        msd_version, {"start_values": {"k": 2, "c": "0.5"}, "fmi_type": "ME"}, user=user
    )
    assert effective.start_values == {"k": 2.0, "c": 0.5}
    assert isinstance(effective.start_values["k"], float)
    assert effective.fmi_type == "ModelExchange"
    default = validate_settings(msd_version, {}, user=user)
    assert default.fmi_type == "CoSimulation"  # what fmpy picks when both are offered
    assert (default.start_time, default.stop_time) == (0.0, 10.0)  # the default experiment


@pytest.mark.django_db
def test_input_csv_upload(user_client, msd_version):
    csv_file = SimpleUploadedFile("inputs.csv", b"time,F\n0,0\n1,1\n2,0\n", "text/csv")
    response = user_client.post(
        JOBS,
        {"version_id": msd_version.pk, "stop_time": "2", "inputs_csv": csv_file},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    job = SimulationJob.objects.get()
    assert job.inputs == {"time": [0.0, 1.0, 2.0], "F": [0.0, 1.0, 0.0]}
    assert job.settings["stop_time"] == 2.0


@pytest.mark.django_db
def test_input_csv_for_a_non_input_is_400(user_client, msd_version):
    csv_file = SimpleUploadedFile("inputs.csv", b"time,k\n0,0\n1,1\n", "text/csv")
    response = user_client.post(
        JOBS, {"version_id": msd_version.pk, "inputs_csv": csv_file}, format="multipart"
    )
    assert codes(field_codes(response, "inputs.k")) == ["not_an_input"]


@pytest.mark.django_db
def test_too_many_sweep_points_is_400_and_creates_nothing(user_client, msd_version):
    response = user_client.post(
        "/api/v1/batches",
        {"version_id": msd_version.pk, "grid": {"k": list(range(1, 101)), "c": [0.1, 0.2]}},
        format="json",
    )
    assert codes(field_codes(response, "grid")) == ["too_many_runs"]
    assert not SimulationBatch.objects.exists() and not SimulationJob.objects.exists()


@pytest.mark.django_db
def test_unknown_version_is_404_and_missing_version_is_400(user_client):
    assert user_client.post(JOBS, {"version_id": 999999}, format="json").status_code == 404
    response = user_client.post(JOBS, {"stop_time": 1}, format="json")
    assert response.status_code == 400 and "version" in response.json()["fields"]


def test_settings_invalid_is_a_400_domain_error():
    assert SettingsInvalid.status_code == 400 and SettingsInvalid.code == "invalid_settings"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"start_time": -1e308, "stop_time": 1e308}, "start_time"),
        ({"start_time": -1e308, "stop_time": 1e308}, "stop_time"),
        ({"stop_time": 1e13}, "stop_time"),
        ({"stop_time": 1e13, "output_interval": 1e13}, "output_interval"),
        ({"step_size": 2e12}, "step_size"),
    ],
)
def test_times_beyond_a_trillion_seconds_are_400(user_client, msd_version, given, field):
    response = user_client.post(JOBS, {"version_id": msd_version.pk, **given}, format="json")
    assert "out_of_range" in codes(field_codes(response, field))
    assert not SimulationJob.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("rtol", [1e-320, 1e-16])
def test_relative_tolerance_below_double_precision_is_400(user_client, msd_version, rtol):
    response = user_client.post(
        JOBS, {"version_id": msd_version.pk, "relative_tolerance": rtol}, format="json"
    )
    assert codes(field_codes(response, "relative_tolerance")) == ["out_of_range"]


@pytest.mark.django_db
@pytest.mark.parametrize("version_id", [0, -5, 1.5, True, 2**63, 10**30, "abc", [1]])
def test_a_version_id_that_is_no_bigint_id_is_400(user_client, msd_version, version_id):
    response = user_client.post(JOBS, {"version_id": version_id}, format="json")
    assert codes(field_codes(response, "version_id")) == ["invalid_number"]


@pytest.mark.django_db
def test_a_version_id_in_a_form_field_is_digits(user_client, msd_version):
    response = user_client.post(JOBS, {"version_id": str(msd_version.pk)}, format="multipart")
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    [
        ("Integer", 2**31 - 1, True),
        ("Integer", 2**31, False),
        ("Integer", -1e20, False),
        ("UInt8", 255, True),
        ("UInt8", 256, False),
        ("UInt16", -1, False),
        ("Int64", 2**62, True),
        ("Enumeration", 2**40, False),
    ],
)
def test_integer_start_values_must_fit_their_type(kind, value, ok):
    # A value beyond the C type would wrap silently inside the FMU: a wrong run, no error.
    variable = VariableInfo("n", "parameter", "fixed", "exact", kind, "0", "", "", "")
    coerced, error = coerce_value(variable, value)
    if ok:
        assert (coerced, error) == (int(value), None)
    else:
        assert coerced is None and error[0] == "out_of_range"
