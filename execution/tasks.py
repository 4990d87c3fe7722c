"""Celery tasks of the execution app (queue ``simulations``); each is a thin call to a service.

All are ``acks_late`` with ``reject_on_worker_lost`` (settings): a worker that dies mid-run
gets its message redelivered, and the job's claim (``attempts``) lets that happen once.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="execution.run_job", ignore_result=True, acks_late=True)
def run_job_task(job_id: str) -> None:
    from execution.services.jobs import run_job

    run_job(job_id)


@shared_task(name="execution.run_batch_chunk", ignore_result=True, acks_late=True)
def run_batch_chunk_task(batch_id: str, job_ids: list[str]) -> None:
    from execution.services.batches import run_batch_chunk

    run_batch_chunk(batch_id, job_ids)


@shared_task(name="execution.recover_lost_jobs", ignore_result=True)
def recover_lost_jobs() -> dict:
    from execution.services.jobs import recover_lost_jobs as recover

    return recover()
