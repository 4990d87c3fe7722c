"""Catalog test helpers: published versions without real files, and a sample catalog."""

from __future__ import annotations

import hashlib
import itertools

from catalog.services import search
from registry.models import Package, PackageVersion, Variable

_counter = itertools.count(1)


def published_version(
    package: Package,
    *,
    fmi: str = "2.0",
    cs: bool = True,
    me: bool = False,
    platforms=("linux64",),
    certified: bool = False,
    variables=("x", "v"),
    version: str | None = None,
) -> PackageVersion:
    """A validated version row (no stored file) with these variables; the package re-indexed."""
    n = next(_counter)
    row = PackageVersion.objects.create(
        package=package,
        version=version or f"1.0.{n}",
        uploaded_by=package.owner,
        artifact_key=f"test/{n}.fmu",
        sha256=hashlib.sha256(f"{package.pk}-{n}".encode()).hexdigest(),
        size=1000,
        fmi_version=fmi,
        model_name=package.name.replace(" ", ""),
        supports_co_simulation=cs,
        supports_model_exchange=me,
        platforms=list(platforms),
    )
    Variable.objects.bulk_create(
        Variable(version=row, name=name, value_reference=i, causality="output", type="Real")
        for i, name in enumerate(variables)
    )
    PackageVersion.objects.filter(pk=row.pk).update(
        validation_status=PackageVersion.ValidationStatus.PASSED, certified=certified
    )
    search.index_packages([package.pk])
    return row
