"""Celery conventions: dispatch by primary key after commit, and the platform's own tasks."""

from __future__ import annotations

import socket
from functools import partial

from celery import Task, shared_task
from celery.utils import uuid
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone


class TransactionAwareTask(Task):
    """The base class of every task (``fmugateway.celery``): sending waits for the commit.

    Called inside an atomic block, ``apply_async`` (and so ``delay``) queues the message in
    ``transaction.on_commit``: a worker never receives the id of a row it cannot see yet, and
    nothing is sent for a transaction that rolls back. Outside one it sends at once. Either
    way the caller gets an ``AsyncResult`` whose id is the id the message will carry.

    Arguments are primary keys, never model instances. A retry (``self.retry`` in a task)
    is sent at once: its first message was sent after a commit, and the ``Retry`` it raises
    would roll back an enclosing block, and the retry with it.
    """

    def apply_async(self, args=None, kwargs=None, task_id=None, **options):
        # Celery's Task.retry is the only caller that passes ``retries``.
        if "retries" in options or not transaction.get_connection().in_atomic_block:
            return super().apply_async(args, kwargs, task_id=task_id, **options)
        task_id = task_id or uuid()
        transaction.on_commit(
            partial(super().apply_async, args, kwargs, task_id=task_id, **options)
        )
        return self.AsyncResult(task_id)


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
