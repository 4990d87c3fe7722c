"""Register the Stripe webhook endpoint (uuid and signing secret from the settings)."""

from django.core.management.base import BaseCommand, CommandError

from billing.stripe.endpoint import ensure_endpoint


class Command(BaseCommand):
    help = (
        "Write dj-stripe's webhook endpoint from STRIPE_WEBHOOK_UUID and STRIPE_WEBHOOK_SECRET "
        "and print the URL to give Stripe."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", help="public base URL (default: SITE_URL)")

    def handle(self, *args, base_url=None, **options):
        try:
            endpoint = ensure_endpoint(base_url)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Stripe webhook endpoint: {endpoint.url}")
