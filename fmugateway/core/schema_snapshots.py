"""Checked-in schema snapshots of third-party migrations, for a fast first ``make setup``.

Replaying dj-stripe's migrations on a new SQLite database takes most of the first start (each
of their ~1,000 field changes rebuilds a table: ~50 s of ~80 s on a quiet machine). A snapshot is
the SQL those migrations leave behind, captured from a real replay: a **new** database executes
it and records the migrations as applied, then plain ``migrate`` goes on as usual. An existing
database never takes it, so it stays upgradable with ``migrate`` alone.

A snapshot names the migrations it stands for and a fingerprint of everything that shapes their
SQL (the migration files, Django's and the app's versions, the settings they read). When the
fingerprint no longer matches (dj-stripe upgraded, say) the snapshot is not used and
``setup_database`` migrates the slow way and says so; ``manage.py schema_snapshot --write``
captures a new one and ``--check`` (CI) compares the checked-in one with a real replay.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import django
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"
# Apps whose migrations a new SQLite database takes from a snapshot, with the distribution that
# ships them and the settings their migrations read.
SNAPSHOT_APPS = {
    "djstripe": (
        "dj-stripe",
        (
            "AUTH_USER_MODEL",
            "DJSTRIPE_SUBSCRIBER_MODEL",
            "DJSTRIPE_FOREIGN_KEY_TO_FIELD",
            "DJSTRIPE_USE_NATIVE_JSONFIELD",
        ),
    ),
}
MIGRATIONS_LINE = "-- migrations: "
FINGERPRINT_LINE = "-- fingerprint: "


@dataclass(frozen=True)
class Snapshot:
    app_label: str
    migrations: tuple[str, ...]
    fingerprint: str
    statements: tuple[str, ...]

    @property
    def path(self) -> Path:
        return snapshot_path(self.app_label)

    def text(self) -> str:
        header = [
            f"-- Schema of the {self.app_label} app's migrations on SQLite, captured from a real",
            "-- replay by `manage.py schema_snapshot --write`. Do not edit: regenerate it.",
            MIGRATIONS_LINE + " ".join(self.migrations),
            FINGERPRINT_LINE + self.fingerprint,
        ]
        return "\n".join(header) + "\n" + "".join(f"{sql};\n" for sql in self.statements)


def snapshot_path(app_label: str) -> Path:
    return SNAPSHOT_DIR / f"{app_label}.sqlite3.sql"


def app_migrations(app_label: str, loader: MigrationLoader | None = None) -> tuple[str, ...]:
    """The app's migrations in the order the graph applies them."""
    loader = loader or MigrationLoader(None, ignore_no_migrations=True)
    leaves = loader.graph.leaf_nodes(app_label)
    plan = loader.graph.forwards_plan(leaves[-1]) if leaves else []
    return tuple(name for label, name in plan if label == app_label)


def fingerprint(app_label: str) -> str:
    """A digest of everything that shapes the SQL of the app's migrations."""
    distribution, setting_names = SNAPSHOT_APPS[app_label]
    loader = MigrationLoader(None, ignore_no_migrations=True)
    digest = hashlib.sha256()
    digest.update(f"django {django.get_version()}\n".encode())
    digest.update(f"{distribution} {importlib.metadata.version(distribution)}\n".encode())
    for name in setting_names:
        digest.update(f"{name}={getattr(settings, name, None)!r}\n".encode())
    for name in app_migrations(app_label, loader):
        module = sys.modules[type(loader.graph.nodes[(app_label, name)]).__module__]
        digest.update(f"{name}\n".encode())
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()


def read_snapshot(app_label: str) -> Snapshot | None:
    path = snapshot_path(app_label)
    if not path.exists():
        return None
    migrations: tuple[str, ...] = ()
    digest = ""
    body = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(MIGRATIONS_LINE):
            migrations = tuple(line.removeprefix(MIGRATIONS_LINE).split())
        elif line.startswith(FINGERPRINT_LINE):
            digest = line.removeprefix(FINGERPRINT_LINE).strip()
        elif not line.startswith("--"):
            body.append(line)
    chunks = "\n".join(body).split(";\n")
    statements = tuple(c.strip().removesuffix(";") for c in chunks if c.strip())
    return Snapshot(app_label, migrations, digest, statements)


def _schema_of(database: Path, app_label: str) -> tuple[str, ...]:
    """The CREATE statements of the app's tables, then of their indexes, in a stable order."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name LIKE ? ESCAPE '\\' "
            "AND sql IS NOT NULL ORDER BY type = 'index', name",
            (app_label.replace("_", "\\_") + "\\_%",),
        ).fetchall()
    return tuple(sql for _, _, sql in rows)


def capture(app_label: str) -> Snapshot:
    """Replay the app's migrations on a new SQLite database (another process, on the current
    settings otherwise) and read back the schema they leave."""
    with tempfile.TemporaryDirectory(prefix="schema-snapshot-") as scratch:
        database = Path(scratch) / "db.sqlite3"
        environment = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{database}",
            "VAR_DIR": scratch,
            "DEBUG": "true",
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", app_label, "--noinput", "-v", "0"],
            cwd=settings.BASE_DIR,
            env=environment,
            check=True,
        )
        statements = _schema_of(database, app_label)
    return Snapshot(app_label, app_migrations(app_label), fingerprint(app_label), statements)


def usable(snapshot: Snapshot | None) -> str:
    """Why the snapshot cannot be used here, or "" when it can."""
    if snapshot is None:
        return "there is no snapshot"
    if snapshot.migrations != app_migrations(snapshot.app_label):
        return "its migrations are not the installed ones"
    if snapshot.fingerprint != fingerprint(snapshot.app_label):
        return "the migrations or settings it was captured from have changed"
    return ""


def load(snapshot: Snapshot, using: str = "default") -> None:
    """Create the app's tables from the snapshot on a database that has none of its migrations
    applied, after migrating what they depend on, and record them as applied."""
    connection = connections[using]
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    recorder = MigrationRecorder(connection)
    for label, name in sorted(_outside(loader, snapshot)):
        if (label, name) not in recorder.applied_migrations():
            call_command("migrate", label, name, database=using, interactive=False, verbosity=0)
    with connection.schema_editor(atomic=True) as editor:
        for sql in snapshot.statements:
            editor.execute(sql)
        for name in snapshot.migrations:
            recorder.record_applied(snapshot.app_label, name)


def _outside(loader: MigrationLoader, snapshot: Snapshot) -> set[tuple[str, str]]:
    """The migrations of other apps that the snapshot's migrations depend on directly."""
    parents = set()
    for name in snapshot.migrations:
        for parent in loader.graph.node_map[(snapshot.app_label, name)].parents:
            if parent.key[0] != snapshot.app_label:
                parents.add(parent.key)
    return parents


def applied_any(app_label: str, using: str = "default") -> bool:
    recorder = MigrationRecorder(connections[using])
    if not recorder.has_table():
        return False
    return recorder.migration_qs.filter(app=app_label).exists()
