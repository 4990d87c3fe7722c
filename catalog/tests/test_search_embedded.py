"""Searching for a variable name as the home page invites ("der(h)", "v_min"), on PostgreSQL and
on SQLite, the embedded default that ``make run`` uses.

The suite runs on PostgreSQL; ``test_these_searches_pass_on_sqlite`` runs this module again in a
child pytest on a throwaway SQLite database (tables from the models, ``--no-migrations``), so the
SQLite fallback (``icontains``) is held to the same answers as the full-text search.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from catalog.services import search
from catalog.tests.catalog_helpers import published_version
from marketplace.factories import CreatorFactory
from registry.factories import PackageFactory
from registry.models import Package

REPO = Path(__file__).resolve().parents[2]


def listed(name: str, variables: tuple[str, ...]) -> Package:
    package = PackageFactory.create(
        owner=CreatorFactory().user,
        name=name,
        summary="",
        description="A sample model.",
        tags=[],
        status=Package.Status.LISTED,
    )
    published_version(package, variables=variables)
    return package


def slugs(text: str) -> list[str]:
    return [entry.package.slug for entry in search.search(search.CatalogQuery(q=text)).results]


@pytest.fixture
def ball_and_engine(db):
    ball = listed("Bouncing Ball", ("h", "der(h)", "v", "der(v)", "v_min"))
    engine = listed("Engine", ("engine.speed", "T_ambientAir"))
    return ball, engine


@pytest.mark.parametrize("text", ["der(h)", "DER(H)", "v_min", "der(v) v_min"])
def test_a_variable_name_finds_its_package(ball_and_engine, text):
    ball, _ = ball_and_engine
    assert slugs(text) == [ball.slug]


@pytest.mark.parametrize("text", ["engine.speed", "ambientAir", "T_ambientAir"])
def test_a_dotted_or_camel_case_name_finds_its_package(ball_and_engine, text):
    _, engine = ball_and_engine
    assert slugs(text) == [engine.slug]


def test_a_name_no_package_has_finds_nothing(ball_and_engine):
    assert slugs("der(omega)") == []


def test_the_catalog_page_finds_a_variable_name_as_the_home_page_invites(client, ball_and_engine):
    ball, engine = ball_and_engine

    html = client.get("/catalog/", {"q": "der(h)"}).content.decode()

    assert f"/packages/{ball.slug}/" in html and f"/packages/{engine.slug}/" not in html


@pytest.mark.slow
def test_these_searches_pass_on_sqlite(tmp_path):
    if connection.vendor == "sqlite":
        pytest.skip("this run is the SQLite run")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "fmugateway.settings_test",
    }
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            __file__,
            "--no-migrations",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "not test_these_searches_pass_on_sqlite",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-2000:]
    assert "passed" in child.stdout and "skipped" not in child.stdout
