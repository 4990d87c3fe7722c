"""The numbers ``POST /jobs`` documents in the OpenAPI schema are the bounds it enforces."""

from __future__ import annotations

import pytest

from execution.models import SimulationJob
from execution.tests.fixtures import make_version, sample_fmus, storage_dirs
from fmugateway.core.schema import generate_api_schema

JOBS = "/api/v1/jobs"
FIXTURES = (sample_fmus, storage_dirs)  # shared fixtures (execution/tests/fixtures.py)
NUMBERS = (
    "version_id",
    "start_time",
    "stop_time",
    "output_interval",
    "step_size",
    "relative_tolerance",
    "timeout_seconds",
)


@pytest.fixture(scope="module")
def documented() -> dict:
    schema = generate_api_schema()
    return schema["components"]["schemas"]["JobCreateRequest"]["properties"]


def beyond(bounds: dict) -> list:
    """The nearest values outside each documented bound."""
    whole = bounds["type"] == "integer"
    low, high = bounds["minimum"], bounds["maximum"]
    if bounds.get("exclusiveMinimum"):
        below = low
    elif whole:
        below = low - 1
    else:
        below = low * 1.5 if low < 0 else low / 10
    if bounds.get("exclusiveMaximum"):
        return [below, high]
    return [below, high + 1 if whole else high * 1.5]


@pytest.fixture
def msd_version(user, sample_fmus, storage_dirs):
    return make_version(user, sample_fmus[("mass_spring_damper", "2.0")].fmu_path)


@pytest.mark.django_db
@pytest.mark.parametrize("name", NUMBERS)
def test_every_documented_bound_of_a_job_is_enforced(user_client, msd_version, documented, name):
    bounds = documented[name]
    assert {"minimum", "maximum"} <= set(bounds), bounds

    for value in beyond(bounds):
        body = {"version_id": msd_version.pk, name: value}
        response = user_client.post(JOBS, body, format="json")

        assert response.status_code == 400, (value, response.json())
        assert name in response.json()["fields"], (value, response.json())
    assert not SimulationJob.objects.exists()


def test_the_documented_timeout_is_the_setting(settings, documented):
    assert documented["timeout_seconds"]["maximum"] == settings.JOB_MAX_TIMEOUT_SECONDS
