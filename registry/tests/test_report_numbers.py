"""The validation report shows measured errors and tolerances to a sensible precision."""

from __future__ import annotations

import pytest

from fmugateway.core.templatetags.gateway import significant
from registry.factories import PackageFactory, PackageVersionFactory
from registry.models import Package, PackageVersion, ValidationRun


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.0001234567890123, "0.000123"),
        (1.5e-07, "1.5e-7"),
        (2.5e12, "2.5e12"),
        (0.0, "0"),
        (1, "1"),
        (12.345678901234, "12.3"),
        (None, "–"),
        ("n/a", "n/a"),
    ],
)
def test_significant_rounds_to_three_digits(value, shown):
    assert significant(value) == shown


@pytest.mark.django_db
def test_validation_report_rounds_errors_and_tolerances(client):
    package = PackageFactory(status=Package.Status.LISTED)
    version = PackageVersionFactory(
        package=package, version="1.0.0", validation_status=PackageVersion.ValidationStatus.PASSED
    )
    columns = [
        {
            "name": "h",
            "max_abs_error": 0.0001234567890123,
            "max_rel_error": 3.14159265358979e-07,
            "passed": True,
        },
        {"name": "v", "max_abs_error": None, "max_rel_error": None, "passed": False},
    ]
    ValidationRun.objects.create(
        version=version,
        status=ValidationRun.Status.FAILED,
        report={
            "passed": False,
            "reasons": ["test vector failed"],
            "smoke": {"status": "ok", "rows": 10, "usage": {}},
            "model_description": {},
            "test_vectors": [
                {
                    "name": "ref",
                    "passed": False,
                    "rtol": 0.000999999999999,
                    "atol": 1e-09,
                    "comparison": {"columns": columns},
                },
            ],
        },
    )

    html = client.get(f"/packages/{package.slug}/versions/1.0.0/report/").content.decode()

    assert "<td>0.000123</td><td>3.14e-7</td>" in html
    assert "<td>not finite</td><td>not finite</td>" in html
    assert "rtol 0.001, atol 1e-9" in html
    assert "0.0001234567890123" not in html and "None" not in html
