from celery import shared_task


@shared_task(name="marketplace.refresh_catalog_stats", acks_late=True)
def refresh_catalog_stats() -> int:
    """Recompute the catalog's activity counters and trending scores (Celery beat)."""
    from marketplace.services.analytics import refresh_catalog_stats as refresh

    return refresh()
