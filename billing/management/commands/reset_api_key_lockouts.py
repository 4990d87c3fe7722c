"""End API-key lockouts now (they also end by themselves after API_KEY_LOCKOUT_MINUTES)."""

from django.core.management.base import BaseCommand, CommandError

from billing.services import key_lockout


class Command(BaseCommand):
    help = (
        "End the API-key lockouts of a client IP and/or a key id (the 16 hex characters after "
        "fmugw_live_), or with --all of everyone; audited as billing.api_key.lockout_reset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--ip", help="client IP address")
        parser.add_argument("--key-id", help="the key's public id")
        parser.add_argument("--all", action="store_true", help="every lockout")

    def handle(self, *args, ip=None, key_id=None, all=False, **options):
        if not (ip or key_id or all):
            raise CommandError("Name --ip, --key-id (or both), or --all.")
        removed = key_lockout.reset(ip=ip, key_id=key_id)
        self.stdout.write(f"Removed {removed} lock(s) and failure counter(s).\n")
