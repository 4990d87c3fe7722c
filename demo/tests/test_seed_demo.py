"""``manage.py seed_demo``: demo users and the sample packages, published, run after run."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.models import User
from registry.models import Package

pytestmark = pytest.mark.django_db


@pytest.fixture
def seed(sample_fmus, settings, tmp_path, monkeypatch):
    """Run the command on the session's built samples (no second build) into a fresh VAR_DIR."""
    settings.VAR_DIR = tmp_path
    built = list(sample_fmus.values())
    monkeypatch.setattr(
        "demo.management.commands.seed_demo.build_sample_fmus", lambda out_dir: built
    )

    def run() -> str:
        out = io.StringIO()
        call_command("seed_demo", stdout=out)
        return out.getvalue()

    return run


def test_seed_demo_publishes_every_sample_model_as_a_listed_package(seed, sample_fmus):
    seed()

    slugs = {slug.replace("_", "-") for slug, _ in sample_fmus}
    packages = Package.objects.filter(slug__in=slugs)
    assert {package.slug for package in packages} == slugs
    assert {package.status for package in packages} == {Package.Status.LISTED}
    assert all(package.owner.email == "creator@fmugateway.local" for package in packages)


def test_seed_demo_run_again_keeps_passwords_and_adds_nothing(seed, settings):
    seed()
    credentials = (settings.VAR_DIR / "demo-credentials.txt").read_text(encoding="utf-8")
    packages = Package.objects.count()

    seed()

    assert (settings.VAR_DIR / "demo-credentials.txt").read_text(encoding="utf-8") == credentials
    assert Package.objects.count() == packages
    for line in credentials.splitlines():
        email, password = line.split()
        assert User.objects.get(email=email).check_password(password)
    assert (settings.VAR_DIR / "demo-credentials.txt").stat().st_mode & 0o777 == 0o600
