"""Test fixtures shared by every app (loaded by the root conftest): the sample FMUs built
once per session, a creator and a package, upload helpers."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from registry.samples import BuiltSample, SampleBuildWarning, build_sample_fmus


def require_gcc() -> None:
    """Skip without gcc, except on CI (CI=true) where a missing compiler is an error."""
    if shutil.which("gcc"):
        return
    from fmugateway.testing import running_in_ci

    reason = "gcc is not installed; it is needed to build the sample FMUs"
    if running_in_ci():
        pytest.fail(f"{reason}; CI=true so this is an error, not a skip", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sample_fmus(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], BuiltSample]:
    """All sample FMUs keyed by (slug, FMI version). Compiler warnings fail the build."""
    require_gcc()
    out_dir: Path = tmp_path_factory.mktemp("sample_fmus")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SampleBuildWarning)
        built = build_sample_fmus(out_dir)
    return {(sample.slug, sample.fmi_version): sample for sample in built}


@pytest.fixture
def creator(db):
    from accounts.factories import UserFactory

    return UserFactory(email="creator@example.com")


@pytest.fixture
def creator_client(creator):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(creator)
    return client


@pytest.fixture
def package(creator):
    from registry.factories import PackageFactory

    return PackageFactory(owner=creator, slug="ball", name="Bouncing ball")


def upload_sample(package, sample, version="1.0.0", with_vector=True):
    """Upload a built sample FMU through the service, as the package's owner."""
    from registry import services

    vectors = ()
    if with_vector:
        vectors = (
            services.TestVectorInput(
                reference_path=sample.reference_csv,
                columns=tuple(sample.tolerance.columns or ()),
                rtol=sample.tolerance.rtol,
                atol=sample.tolerance.atol,
            ),
        )
    return services.upload_version(
        package,
        uploaded_by=package.owner,
        upload=services.ReceivedFile(
            path=sample.fmu_path,
            sha256=None,
            size=sample.fmu_path.stat().st_size,
            original_filename=sample.fmu_path.name,
        ),
        version=version,
        test_vectors=vectors,
    )


@pytest.fixture
def ball(sample_fmus):
    return sample_fmus[("bouncing_ball", "2.0")]


@pytest.fixture
def artifacts_dir(settings, tmp_path):
    """Point the artifacts storage at a fresh directory, so tests can see what was written."""
    root = tmp_path / "artifacts"
    # Django resets its storage handler when STORAGES changes (a setting_changed receiver).
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


def stored_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
