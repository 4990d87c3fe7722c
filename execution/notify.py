"""Wake-ups for clients waiting on a job (``GET /api/v1/jobs/{id}?wait=N``).

A job that ends publishes one message on a Redis channel of its own once the row that says so
is committed; a request waiting for it subscribes, re-reads the row (so an end that happened
before the subscription is not missed) and blocks on the subscription until the message or its
deadline. The message only says "look again": the database stays the one truth, so a lost or
spurious message costs at most one extra read, never a wrong answer. Without Redis
(``REDIS_URL`` unset) nothing is published and waiting is not offered: the API answers at once
and clients poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


class _Run(Protocol):
    """A job or batch row: whether it has ended."""

    @property
    def finished(self) -> bool: ...


T = TypeVar("T", bound=_Run)

_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def _channel(job_id) -> str:
    # Pub/sub channels ignore Redis' database number; job ids are UUIDs, so a message from
    # another deployment on the same server can only cause one harmless extra read.
    return f"execution:job-ended:{job_id}"


def _redis():
    """A client per process and URL (its connection pool is shared by the web threads)."""
    url = settings.REDIS_URL
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        import redis

        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                client = _clients[url] = redis.Redis.from_url(url)
    return client


def available() -> bool:
    return bool(settings.REDIS_URL)


def _publish(job_ids: list[str]) -> None:
    client = _redis()
    if client is None or not job_ids:
        return
    try:
        pipe = client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.publish(_channel(job_id), b"ended")
        pipe.execute()
    except Exception:  # a waiter then sees the end at its deadline; never fail the job for it
        logger.warning("could not publish the end of jobs %s", job_ids[:3], exc_info=True)


def jobs_ended(job_ids: Iterable) -> None:
    """Wake whoever waits on these jobs, once the current transaction has committed."""
    ids = [str(job_id) for job_id in job_ids]
    if ids:
        transaction.on_commit(lambda: _publish(ids))


def batch_progressed(batch_id) -> None:
    """Wake whoever waits on this batch (runs finished, or it ended) after the commit. Batch
    and job ids are both UUIDs, so they share the channel naming without clashing."""
    jobs_ended([batch_id])


def wait_for_end(
    job_id, fetch: Callable[[], T], timeout: float, done: Callable[[T], bool] | None = None
) -> T:
    """``fetch()`` (the job as the database has it) once it has ended (or ``done(row)`` says
    it changed enough), or as it is after ``timeout`` seconds.

    ``fetch`` is called once after subscribing (an end before that is not missed) and again
    after each wake-up, so the answer never depends on the message itself.
    """
    ready = done or (lambda row: row.finished)
    client = _redis()
    if client is None or timeout <= 0:
        return fetch()
    from redis.exceptions import RedisError

    deadline = time.monotonic() + timeout
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(_channel(job_id))
        job = fetch()
        while not ready(job):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if pubsub.get_message(timeout=remaining) is not None:
                job = fetch()
        return job
    except RedisError:  # Redis went away: answer with what the database says now
        logger.warning("long-poll on job %s lost Redis", job_id, exc_info=True)
        return fetch()
    finally:
        pubsub.close()
