from django.core.management.base import BaseCommand, CommandError

from registry.models import PackageVersion
from registry.validation import VALIDATOR_VERSION, queue_validation, run_validation


class Command(BaseCommand):
    help = (
        "Validate a version now, in this process (sandboxed), or queue re-validation of every "
        "version last validated by an older validator (--outdated)."
    )

    def add_arguments(self, parser):
        parser.add_argument("package", nargs="?", help="package slug")
        parser.add_argument("version", nargs="?", help="version number")
        parser.add_argument(
            "--outdated",
            action="store_true",
            help="queue versions whose last run used another validator version",
        )

    def handle(self, *args, package=None, version=None, outdated=False, **options):
        if outdated:
            count = 0
            for row in PackageVersion.objects.prefetch_related("validation_runs"):
                latest = row.validation_runs.first()
                if latest is None or latest.validator_version != VALIDATOR_VERSION:
                    queue_validation(row)
                    count += 1
            self.stdout.write(f"Queued {count} version(s) for re-validation.")
            return
        if not package or not version:
            raise CommandError("Give PACKAGE VERSION, or --outdated.")
        row = PackageVersion.objects.filter(package__slug=package, version=version).first()
        if row is None:
            raise CommandError(f"No version {version} of package {package}.")
        run = queue_validation(row)
        run_validation(run.pk)
        run.refresh_from_db()
        row.refresh_from_db()
        self.stdout.write(
            f"{package} {version}: {run.status}; certified={row.certified}"
            + (
                f"; reasons: {', '.join(run.report.get('certification_reasons', []))}"
                if not row.certified
                else ""
            )
        )
