"""Rewrap the artifacts' data keys under the current master key (no object is rewritten)."""

from django.core.management.base import BaseCommand, CommandError

from fmugateway.core import storage
from fmugateway.core.artifact_crypto import ArtifactIntegrityError, ArtifactKeyUnavailable
from fmugateway.core.audit import record
from fmugateway.core.models import ObjectDataKey


class Command(BaseCommand):
    help = (
        "Rewrap every stored artifact's data key under the first of ARTIFACT_MASTER_KEYS, so "
        "the other keys can then be removed. Only the wrapped keys in the database change; the "
        "encrypted files are not read or rewritten. --check only reports."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="report data keys per master key; exit 1 if any is not under the current key",
        )

    def handle(self, *args, check: bool = False, **options):
        current, _ = storage.current_master_key()
        if check:
            return self._report(current)
        rewrapped = failed = 0
        try:
            with storage.exclusive_key_maintenance():
                rows = ObjectDataKey.objects.exclude(master_key_id=current).order_by("pk")
                for row in rows.iterator(chunk_size=500):
                    try:
                        rewrapped += storage.rotate_data_key(row)
                    except (ArtifactKeyUnavailable, ArtifactIntegrityError) as exc:
                        failed += 1
                        self.stderr.write(f"{row.storage}:{row.name}: {exc.detail}")
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        record(
            "core.artifacts.keys_rotated",
            after={"master_key_id": current, "rewrapped": rewrapped, "failed": failed},
        )
        self.stdout.write(f"Rewrapped {rewrapped} data key(s) under {current}; failed {failed}.")
        if failed:
            raise CommandError(f"{failed} data key(s) could not be rewrapped; see above.")
        self._report(current)

    def _report(self, current: str) -> None:
        counts = storage.data_keys_by_master_key()
        for key_id, count in sorted(counts.items()):
            mark = " (current)" if key_id == current else ""
            self.stdout.write(f"{key_id}{mark}: {count} data key(s)")
        others = sum(count for key_id, count in counts.items() if key_id != current)
        if others:
            raise CommandError(
                f"{others} data key(s) are still wrapped by master keys other than {current}."
            )
        self.stdout.write(f"Every data key is wrapped by {current}; other keys can be removed.")
