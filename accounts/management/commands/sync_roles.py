"""Give each role's group exactly the permissions ``accounts.roles`` declares (``migrate`` runs
this too)."""

from django.core.management.base import BaseCommand, CommandError

from accounts.roles import sync_roles


class Command(BaseCommand):
    help = "Set the Moderators group's permissions from accounts/roles.py (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default")

    def handle(self, *args, **options):
        results = sync_roles(using=options["database"])
        for result in results:
            self.stdout.write(f"{result.group}: {result.granted} permission(s)")
        missing = [f"{r.group}: {app}.{code}" for r in results for app, code in r.missing]
        if missing:
            # A declared permission that does not exist is a typo or an unmigrated app.
            raise CommandError("Unknown permissions (run migrate first?): " + ", ".join(missing))
