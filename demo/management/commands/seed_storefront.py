"""Demo storefront content: categories, the demo seller profile and free listings."""

from django.core.management.base import BaseCommand

from demo.storefront_data import seed_storefront


class Command(BaseCommand):
    help = "Seed the catalog's categories and the demo packages' listings (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--creator", default="creator@fmugateway.local")

    def handle(self, *args, creator: str, **options):
        count = seed_storefront(creator)
        self.stdout.write(self.style.SUCCESS(f"Storefront seeded ({count} demo packages)."))
