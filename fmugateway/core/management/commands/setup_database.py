"""Create or upgrade the database: ``migrate``, with a fast start for a new SQLite database."""

from __future__ import annotations

import time

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections

from fmugateway.core import schema_snapshots


class Command(BaseCommand):
    help = (
        "Migrate the database. A new SQLite database (the embedded default) first takes the "
        "tables of dj-stripe's migrations from a checked-in schema snapshot (~1 s instead of "
        "~50 s); an existing one is migrated as is."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default")

    def handle(self, *args, database: str, **options):
        verbosity = options["verbosity"]
        connection = connections[database]
        for app_label in schema_snapshots.SNAPSHOT_APPS:
            if connection.vendor != "sqlite" or schema_snapshots.applied_any(app_label, database):
                continue
            snapshot = schema_snapshots.read_snapshot(app_label)
            why_not = schema_snapshots.usable(snapshot)
            if why_not or snapshot is None:
                self.stdout.write(
                    f"Migrating {app_label} the slow way: {why_not} "
                    "(manage.py schema_snapshot --write captures a new snapshot)."
                )
                continue
            started = time.monotonic()
            schema_snapshots.load(snapshot, using=database)
            if verbosity:
                self.stdout.write(
                    f"Created {app_label}'s tables from its schema snapshot "
                    f"({len(snapshot.migrations)} migrations, {time.monotonic() - started:.1f} s)."
                )
        call_command("migrate", database=database, interactive=False, verbosity=verbosity)
