"""``setup_database``: a new SQLite database takes dj-stripe's tables from the checked-in schema
snapshot, then plain ``migrate`` finishes it; an existing one is only migrated.

That the snapshot is what dj-stripe's real migrations build is checked by replaying them
(``manage.py schema_snapshot --check``, ~1 min), which ``.ci/run`` does beside the fast lane."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fmugateway.core import schema_snapshots

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _djstripe_own_migrations(settings):
    """The test settings give dj-stripe one generated migration; the snapshot stands for the
    package's own, which every other settings module applies."""
    settings.MIGRATION_MODULES = {}


def test_the_checked_in_snapshot_stands_for_the_installed_migrations():
    snapshot = schema_snapshots.read_snapshot("djstripe")

    assert schema_snapshots.usable(snapshot) == "", (
        "the dj-stripe schema snapshot is stale: run `DEBUG=true manage.py schema_snapshot --write`"
    )
    assert snapshot is not None
    assert snapshot.migrations[0] == "0001_initial"
    assert any(sql.startswith('CREATE TABLE "djstripe_customer"') for sql in snapshot.statements)


def test_a_snapshot_of_other_migrations_or_settings_is_not_used():
    snapshot = schema_snapshots.read_snapshot("djstripe")
    assert snapshot is not None

    changed = dataclasses.replace(snapshot, fingerprint="0" * 64)
    fewer = dataclasses.replace(snapshot, migrations=snapshot.migrations[:-1])

    assert "changed" in schema_snapshots.usable(changed)
    assert "not the installed ones" in schema_snapshots.usable(fewer)
    assert schema_snapshots.usable(None) == "there is no snapshot"


def setup_database(var_dir: Path) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fmugateway.settings",
        "DEBUG": "true",
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "setup_database"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_a_new_sqlite_database_is_built_from_the_snapshot_and_then_only_migrated(tmp_path):
    first = setup_database(tmp_path)

    assert first.returncode == 0, first.stderr
    assert "Created djstripe's tables from its schema snapshot" in first.stdout
    assert "Applying djstripe." not in first.stdout
    assert "Applying billing.0001" in first.stdout  # billing's own migrations run for real
    database = tmp_path / "db.sqlite3"
    snapshot = schema_snapshots.read_snapshot("djstripe")
    assert snapshot is not None
    with sqlite3.connect(database) as db:
        recorded = db.execute(
            "SELECT name FROM django_migrations WHERE app = 'djstripe' ORDER BY id"
        ).fetchall()
        content_types = db.execute(
            "SELECT count(*) FROM django_content_type WHERE app_label = 'djstripe'"
        ).fetchone()[0]
    assert tuple(name for (name,) in recorded) == snapshot.migrations
    # Tables written by the snapshot, then altered by nothing: dj-stripe's own schema as captured.
    assert schema_snapshots._schema_of(database, "djstripe") == snapshot.statements
    assert content_types > 30  # post_migrate ran for dj-stripe's models too

    again = setup_database(tmp_path)

    assert again.returncode == 0, again.stderr
    assert "schema snapshot" not in again.stdout
    assert "No migrations to apply." in again.stdout
