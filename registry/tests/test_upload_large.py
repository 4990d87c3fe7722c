"""A valid FMU with a very large model description (100,000 variables, ~16 MB of XML, under
the size cap) uploads without holding the web worker or swelling its memory."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from registry.models import PackageVersion
from registry.tests import fmu_builders as fb
from registry.tests.memory import PeakRss

pytestmark = pytest.mark.django_db

VARIABLES = 100_000
RSS_BUDGET_MB = 100
TIME_BUDGET_S = 10  # "a few seconds" on a busy shared CI machine; about 3 s measured


@pytest.fixture(scope="module")
def large_fmu(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("large")
    library = fb.compile_c(fb.CLEAN_FMI2_SOURCE, folder / "model.so")
    xml = fb.many_variables_model_description(VARIABLES)
    assert 15 * 1024**2 < len(xml) < 16 * 1024**2
    return fb.write_fmu(
        folder / "large.fmu",
        {"binaries/linux64/model.so": library.read_bytes()},
        model_description=xml,
    )


def test_large_model_description_uploads_in_seconds_with_little_memory(
    creator_client, package, artifacts_dir, large_fmu, capsys
):
    body = large_fmu.read_bytes()
    creator_client.get(f"/api/v1/packages/{package.slug}")  # warm up the request path

    with PeakRss() as memory:
        started = time.perf_counter()
        response = creator_client.post(
            f"/api/v1/packages/{package.slug}/versions?version=1.0.0",
            data=body,
            content_type="application/octet-stream",
        )
        elapsed = time.perf_counter() - started

    with capsys.disabled():
        print(
            f"\n100,000-variable upload: {elapsed:.2f} s, peak RSS growth "
            f"{memory.growth_mb:.1f} MB ({'VmHWM' if memory.exact else 'sampled'})"
        )
    assert response.status_code == 201, response.json()
    card = response.json()
    assert card["inspection"]["number_of_variables"] == VARIABLES + 3
    assert "variables" not in card["inspection"]  # the table is its own endpoint
    version = PackageVersion.objects.get(pk=card["id"])
    assert version.variables.count() == VARIABLES + 3
    last = version.variables.get(name="plant.block0999.s99")
    assert (last.value_reference, last.unit, last.initial) == (
        1000 + VARIABLES - 1,
        "m",
        "calculated",
    )
    assert memory.growth_mb < RSS_BUDGET_MB
    assert elapsed < TIME_BUDGET_S
