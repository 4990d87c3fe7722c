"""Encrypt the artifacts stored before encryption at rest existed (idempotent)."""

from django.core.management.base import BaseCommand, CommandError

from fmugateway.core import storage
from fmugateway.core.artifact_crypto import ArtifactIntegrityError, ArtifactKeyUnavailable
from fmugateway.core.audit import record

# A damaged object, a key that is not configured, a storage error, a file that changed meanwhile.
FAILURES = (ArtifactIntegrityError, ArtifactKeyUnavailable, OSError, ValueError)


class Command(BaseCommand):
    help = (
        "Encrypt every object of the artifacts storage that is still plaintext (no header "
        "magic) under a new data key wrapped by the first of ARTIFACT_MASTER_KEYS. Objects "
        "already encrypted are skipped, so it can be run again (and resumes an interrupted run)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="only count the plaintext objects"
        )

    def handle(self, *args, dry_run: bool = False, **options):
        counts = {"encrypted": 0, "already": 0, "failed": 0}
        try:
            with storage.exclusive_key_maintenance():
                for name in self._names():
                    if dry_run:
                        encrypted = storage.is_stored_encrypted("artifacts", name)
                        counts["already" if encrypted else "encrypted"] += 1
                        continue
                    try:
                        counts[storage.encrypt_existing_object("artifacts", name)] += 1
                    except FAILURES as exc:
                        counts["failed"] += 1
                        self.stderr.write(f"{name}: {getattr(exc, 'detail', exc)}")
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        verb = "would encrypt" if dry_run else "encrypted"
        self.stdout.write(
            f"{verb} {counts['encrypted']}, already encrypted {counts['already']}, "
            f"failed {counts['failed']}."
        )
        if not dry_run:
            record("core.artifacts.encrypted", after=counts)
        if counts["failed"]:
            raise CommandError(f"{counts['failed']} object(s) could not be encrypted; see above.")

    def _names(self):
        try:
            yield from storage.walk("artifacts")
        except FileNotFoundError:  # a local storage nothing was ever written to
            return
