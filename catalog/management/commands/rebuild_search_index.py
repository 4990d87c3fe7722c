"""Rebuild the catalog's search rows (documents, facets, tags) and activity counters."""

from django.core.management.base import BaseCommand

from catalog.services import analytics, search


class Command(BaseCommand):
    help = "Rebuild every package's catalog row (search document, facets, tags) and counters."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=500)
        parser.add_argument("--skip-stats", action="store_true", help="Keep activity counters.")

    def handle(self, *args, chunk_size: int, skip_stats: bool, **options):
        def progress(done: int, total: int) -> None:
            if options["verbosity"] > 1:
                self.stdout.write(f"{done}/{total}")

        done = search.rebuild_index(chunk_size=chunk_size, progress=progress)
        changed = 0 if skip_stats else analytics.refresh_catalog_stats()
        self.stdout.write(
            self.style.SUCCESS(f"Indexed {done} packages; activity counters of {changed} updated.")
        )
