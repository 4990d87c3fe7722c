"""A per-process cache of verified API keys, kept honest by a revocation stamp in Redis.

Authenticating a key would otherwise cost a PostgreSQL round trip per request. Each process keeps
the key's row (with its owner and plan) after one lookup; every request still reads the owner's
*stamp* from Redis, in the same pipeline as the rate-limit counter and the presenting IP's
API-key lockouts (``billing.services.key_lockout``), so the check costs no extra round trip.
Anything that can change whether or how a key works (revoking or editing a key, saving or
deleting its owner, changing the owner's plan) replaces the owner's stamp, before and
after its transaction commits; a cached row whose stamp no longer matches is dropped and read
again. A revoked key therefore stops working at the next request, in every process.

Why this is safe against races: the stamp is read *before* the row, and changed *after* the
change commits, so a row read before the change is always filed under a stamp that the change
replaces. A missing stamp (Redis flushed or restarted) caches nothing until one is set again.
Expiry is checked on every use. Entries also age out after ``MAX_AGE_SECONDS`` in case a change
bypassed the signals (a raw ``QuerySet.update()``).

Only with a Redis cache and PostgreSQL; otherwise every request looks the key up as before.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection, transaction

from accounts.models import User
from fmugateway.core.ratelimit import redis_client

MAX_ENTRIES = 10_000
MAX_AGE_SECONDS = 300
STAMP_TTL_SECONDS = 7 * 86400


class HitCounter(Protocol):
    """A rate-limit window to count in the stamp's round trip (see ``AccountRateThrottle``)."""

    def window(self, user: User) -> tuple[str, int] | None: ...

    def record(self, key: str, count: int) -> None: ...


# A row of the key lookup's query (``keys._lookup_plan``): key, owner and plan columns.
Row = tuple[Any, ...]


@dataclass
class Entry:
    row: Row
    stamp: str
    cached_at: float
    last_used_at: Any = field(default=None)  # what this process last wrote (touch)


_entries: OrderedDict[str, Entry] = OrderedDict()
_lock = threading.Lock()


def _backend() -> RedisCache | None:
    backend = caches["default"]
    return backend if isinstance(backend, RedisCache) else None


def _redis_backend() -> RedisCache:
    """The Redis cache; callers check ``enabled()`` (or ``_backend()``) first."""
    backend = _backend()
    if backend is None:
        raise RuntimeError("The API key cache needs a Redis cache (see enabled()).")
    return backend


def enabled() -> bool:
    return connection.vendor == "postgresql" and _backend() is not None


def _stamp_key(backend: RedisCache, user_id: int) -> str:
    return backend.make_and_validate_key(f"billing:auth-stamp:{user_id}")


def read_state(
    user_id: int,
    counter: HitCounter | None = None,
    user: User | None = None,
    *,
    lock_keys: Sequence[str] = (),
) -> tuple[str | None, list[bytes | None]]:
    """The owner's current stamp and the raw values of ``lock_keys`` (cache keys, e.g. the
    presenting IP's API-key lockouts), read in one round trip that also counts ``counter``'s
    window."""
    backend = _redis_backend()
    pipe = redis_client(backend).pipeline(transaction=False)
    pipe.get(_stamp_key(backend, user_id))
    if lock_keys:
        pipe.mget([backend.make_and_validate_key(key) for key in lock_keys])
    window = counter.window(user) if counter is not None and user is not None else None
    if window is not None:
        full_key = backend.make_and_validate_key(window[0])
        pipe.incr(full_key)
        pipe.expire(full_key, window[1] + 1)
    results = pipe.execute()
    locks: list[bytes | None] = results[1] if lock_keys else []
    if counter is not None and window is not None:
        counter.record(window[0], int(results[2 if lock_keys else 1]))
    return (results[0].decode() if results[0] is not None else None), locks


def ensure_stamp(user_id: int) -> None:
    """Give the owner a stamp if it has none, so the next request can use the cache."""
    backend = _redis_backend()
    redis_client(backend).set(
        _stamp_key(backend, user_id), secrets.token_hex(8), nx=True, ex=STAMP_TTL_SECONDS
    )


def get(public_id: str) -> Entry | None:
    entry = _entries.get(public_id)
    if entry is not None and time.monotonic() - entry.cached_at > MAX_AGE_SECONDS:
        forget(public_id)
        return None
    return entry


def put(public_id: str, row: Row, stamp: str) -> Entry:
    entry = Entry(row=row, stamp=stamp, cached_at=time.monotonic())
    with _lock:
        _entries[public_id] = entry
        _entries.move_to_end(public_id)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return entry


def forget(public_id: str) -> None:
    with _lock:
        _entries.pop(public_id, None)


def invalidate(user_id: int | None) -> None:
    """Make every process re-read ``user_id``'s keys: now, and again once the change commits."""
    if user_id is None or _backend() is None:
        return

    def replace() -> None:
        backend = _redis_backend()
        redis_client(backend).set(
            _stamp_key(backend, user_id), secrets.token_hex(8), ex=STAMP_TTL_SECONDS
        )

    replace()
    transaction.on_commit(replace)
