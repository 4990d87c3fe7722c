from celery import shared_task


@shared_task(name="marketplace.refresh_catalog_stats", acks_late=True)
def refresh_catalog_stats() -> int:
    """Recompute the catalog's activity counters and trending scores (Celery beat)."""
    from catalog.services.analytics import refresh_catalog_stats as refresh

    return refresh()


@shared_task(bind=True, name="marketplace.reindex_packages", acks_late=True, max_retries=8)
def reindex_packages_task(self, package_ids: list[int]) -> int:
    """Re-index packages whose re-index failed inside the change that triggered it (the change
    itself committed: ``catalog.signals``); database errors are retried with backoff."""
    from django.db import DatabaseError

    from catalog.services.search import index_packages

    try:
        return index_packages(package_ids)
    except DatabaseError as exc:
        raise self.retry(exc=exc, countdown=min(300, 2 * 2**self.request.retries)) from exc


@shared_task(name="marketplace.flush_analytics", acks_late=True)
def flush_analytics() -> int:
    """Write the analytics events buffered in Redis (Celery beat, every ANALYTICS_FLUSH_SECONDS)."""
    from catalog.services.analytics import drain

    return drain()
