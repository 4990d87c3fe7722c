"""Capture or check the schema snapshots that ``setup_database`` gives a new SQLite database."""

from __future__ import annotations

import difflib

from django.core.management.base import BaseCommand, CommandError

from fmugateway.core import schema_snapshots


class Command(BaseCommand):
    help = (
        "Replay the snapshotted apps' real migrations on a scratch SQLite database and write "
        "the schema they leave (--write) or fail if the checked-in snapshot differs (--check)."
    )

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--write", action="store_true")
        mode.add_argument("--check", action="store_true")

    def handle(self, *args, write: bool, check: bool, **options):
        for app_label in schema_snapshots.SNAPSHOT_APPS:
            replayed = schema_snapshots.capture(app_label)
            if write:
                replayed.path.parent.mkdir(parents=True, exist_ok=True)
                replayed.path.write_text(replayed.text(), encoding="utf-8")
                self.stdout.write(f"Wrote {replayed.path} ({len(replayed.statements)} statements).")
                continue
            checked_in = schema_snapshots.read_snapshot(app_label)
            if checked_in is None or checked_in.text() != replayed.text():
                diff = difflib.unified_diff(
                    checked_in.text().splitlines() if checked_in else [],
                    replayed.text().splitlines(),
                    "checked in",
                    "real migrations",
                    lineterm="",
                    n=1,
                )
                raise CommandError(
                    f"The schema snapshot of {app_label} is not what its migrations build "
                    "(manage.py schema_snapshot --write):\n" + "\n".join(list(diff)[:60])
                )
            self.stdout.write(
                f"{app_label}: the snapshot matches a real replay of "
                f"{len(replayed.migrations)} migrations."
            )
