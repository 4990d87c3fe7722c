"""Create the Pro product and monthly price at Stripe from pricing_tiers.json (idempotent)."""

from django.core.management.base import BaseCommand, CommandError

from billing.stripe.products import sync_products
from fmugateway.core.errors import DomainError


class Command(BaseCommand):
    help = "Create the Pro product and its monthly price at Stripe if missing; print the ids."

    def handle(self, *args, **options):
        try:
            result = sync_products()
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        verb = "Created" if result.created else "Found"
        self.stdout.write(f"{verb} Pro price {result.price_id} (product {result.product_id}).")
