"""Celery conventions: dispatch by primary key after commit, and the platform's own tasks."""

from __future__ import annotations

import socket

from celery import Task, shared_task
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone


def dispatch_after_commit(task: Task, *args, **options) -> None:
    """Queue ``task`` with ``args`` (primary keys, never objects) once the transaction commits.

    A worker must never receive the id of a row it cannot see yet, nor run work for a
    transaction that rolled back. ``options`` go to ``apply_async`` (queue, countdown...).
    """
    transaction.on_commit(lambda: task.apply_async(args=args, **options))


# Apps add facts to the worker's heartbeat: receivers return a dict merged into its status.
worker_status = Signal()


@shared_task(name="fmugateway.core.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    from fmugateway.core.models import WorkerHeartbeat

    status: dict = {}
    for _receiver, reported in worker_status.send_robust(sender=heartbeat):
        if isinstance(reported, dict):
            status.update(reported)
        elif isinstance(reported, Exception):
            status.setdefault("errors", []).append(f"{type(reported).__name__}: {reported}")
    WorkerHeartbeat.objects.update_or_create(
        hostname=heartbeat.request.hostname or socket.gethostname(),
        defaults={"seen_at": timezone.now(), "status": status},
    )


@shared_task(name="fmugateway.core.tasks.purge_idempotency_records", ignore_result=True)
def purge_idempotency_records() -> int:
    from fmugateway.core.idempotency import purge_expired

    return purge_expired()


@shared_task(name="fmugateway.core.tasks.ping")
def ping(value: str) -> str:
    """A trivial round trip used by the worker integration test and ``manage.py check_worker``."""
    return f"pong:{value}"
