from celery import shared_task


@shared_task(name="marketplace.refresh_catalog_stats", acks_late=True)
def refresh_catalog_stats() -> int:
    """Recompute the catalog's activity counters and trending scores (Celery beat)."""
    from marketplace.services.analytics import refresh_catalog_stats as refresh

    return refresh()


@shared_task(name="marketplace.schedule_payouts", acks_late=True)
def schedule_payouts() -> int | None:
    """Make the next payout batch when it is due (Celery beat, hourly)."""
    from marketplace.services.payouts import schedule_payouts as schedule

    batch = schedule()
    return batch.pk if batch else None


@shared_task(bind=True, name="marketplace.execute_payout_batch", acks_late=True, max_retries=10)
def execute_payout_batch_task(self, batch_id: int) -> dict:
    """Transfer an approved batch's items; Stripe outages are retried with backoff."""
    from marketplace.services.payouts import TransferDeferred, execute_payout_batch

    try:
        return execute_payout_batch(batch_id)
    except TransferDeferred as exc:
        raise self.retry(exc=exc, countdown=min(3600, 60 * 2**self.request.retries)) from exc
