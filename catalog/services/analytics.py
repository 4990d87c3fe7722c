"""Analytics events (views, searches, purchases...) and the catalog's activity counters.

Recording must not slow pages: ``track(request, ...)`` only appends an unsaved event to the
request; ``AnalyticsMiddleware`` hands a request's events over when the response is closed,
i.e. after the WSGI server has sent it. With Redis as the cache and ``ANALYTICS_FLUSH_SECONDS``
set, they are pushed onto a Redis list (one round trip) and ``drain`` — Celery beat, every
``ANALYTICS_FLUSH_SECONDS`` — writes them in batches of one INSERT each; otherwise (or when Redis
is unreachable) they are written at once. A failure to record is logged, never raised; events
still in Redis are lost if Redis is, which analytics can afford.

The counters the catalog sorts by (downloads, runs, purchases, views, trending) are recomputed
from the activity tables by ``refresh_catalog_stats`` (Celery beat, every few minutes), so no
page or API call pays for them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db.models import Count, Model, QuerySet, Sum
from django.db.models.expressions import Combinable
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from redis import Redis

from catalog.models import AnalyticsEvent, PackageSearch
from fmugateway.core.models import AuditEntry
from fmugateway.core.ratelimit import redis_client
from marketplace.models import Order, OrderLine
from registry.models import Package, PackageVersion

logger = logging.getLogger(__name__)

TRENDING_DAYS = 7
# Weights of the trending score: a purchase says more than a run, a run more than a view.
WEIGHTS = {"download": 1.0, "run": 1.0, "purchase": 3.0, "view": 0.05}
_BUFFER = "_analytics_events"


def _session_hash(request: HttpRequest) -> str:
    key = getattr(getattr(request, "session", None), "session_key", None)
    return hashlib.sha256(key.encode()).hexdigest()[:32] if key else ""


def track(
    request: HttpRequest,
    kind: str,
    *,
    package_id: int | None = None,
    query: str = "",
    result_count: int | None = None,
    **data: Any,
) -> AnalyticsEvent:
    """Queue one event for this request; it is written after the response has been sent."""
    user = getattr(request, "user", None)
    event = AnalyticsEvent(
        kind=kind,
        package_id=package_id,
        user_id=getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None,
        session=_session_hash(request),
        query=(query or "")[:200],
        result_count=result_count,
        data=data,
        referrer=(request.META.get("HTTP_REFERER") or "")[:300],
    )
    buffer = getattr(request, _BUFFER, None)
    if buffer is None:
        buffer = []
        setattr(request, _BUFFER, buffer)
    buffer.append(event)
    return event


BUFFER_KEY = "analytics:events"
_FIELDS = ("kind", "package_id", "user_id", "session", "query", "result_count", "data", "referrer")


def _buffer() -> Redis | None:
    """The Redis client events are pushed to, or None to write them at once."""
    cache = caches["default"]
    if settings.ANALYTICS_FLUSH_SECONDS <= 0 or not isinstance(cache, RedisCache):
        return None
    return redis_client(cache)


def flush(events: list[AnalyticsEvent]) -> None:
    """Record ``events``: onto the Redis buffer when there is one, else (or if Redis fails)
    straight into the table."""
    if not events:
        return
    client = _buffer()
    if client is not None:
        rows = [
            json.dumps(
                {name: getattr(event, name) for name in _FIELDS}
                | {"created_at": event.created_at.isoformat()}
            )
            for event in events
        ]
        try:
            client.rpush(BUFFER_KEY, *rows)
            return
        except Exception:
            logger.warning("Redis unreachable; writing %d analytics events directly", len(events))
    _write(events)


def _write(events: list[AnalyticsEvent]) -> None:
    try:
        AnalyticsEvent.objects.bulk_create(events)
    except Exception:  # analytics must never break a page
        logger.exception("Could not record %d analytics events", len(events))


def drain(batch: int = 1000, max_batches: int = 100) -> int:
    """Write the events waiting in Redis, ``batch`` per INSERT; returns how many were written.
    Events of packages deleted meanwhile are kept without their package."""
    client = _buffer()
    if client is None:
        return 0
    written = 0
    for _ in range(max_batches):
        popped = client.lpop(BUFFER_KEY, batch)  # with a count: a list, or None when empty
        rows = popped if isinstance(popped, list) else []
        if not rows:
            break
        events = []
        for raw in rows:
            try:
                fields = json.loads(raw)
                fields["created_at"] = parse_datetime(fields["created_at"])
                events.append(AnalyticsEvent(**fields))
            except (ValueError, TypeError, KeyError):
                logger.warning("Dropped a malformed buffered analytics event: %.200r", raw)
        package_ids = {event.package_id for event in events if event.package_id}
        existing = set(Package.objects.filter(pk__in=package_ids).values_list("pk", flat=True))
        for event in events:
            if event.package_id and event.package_id not in existing:
                event.package_id = None
        _write(events)
        written += len(events)
        if len(rows) < batch:
            break
    return written


class AnalyticsMiddleware:
    """Writes the events ``track`` queued once the response is closed (after it was sent)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        events = getattr(request, _BUFFER, None)
        if events:
            # Django's list of what closing the response runs; there is no public hook for it.
            response._resource_closers.append(lambda: flush(events))  # type: ignore[attr-defined]
        return response


# --- activity counters -----------------------------------------------------------------------


def refresh_catalog_stats(now: datetime | None = None) -> int:
    """Recompute every catalog row's activity counters and trending score; returns rows changed.

    Totals: downloads (the versions' counters), runs (simulation jobs), purchases (paid order
    lines), views (events). Trending: the same activity in the last ``TRENDING_DAYS`` days,
    weighted by ``WEIGHTS``.
    """
    drain()  # views still waiting in Redis count too
    now = now or timezone.now()
    since = now - timedelta(days=TRENDING_DAYS)
    job_model = apps.get_model("execution", "SimulationJob")
    paid = [Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED]

    def grouped(
        queryset: QuerySet[Model], key: str, value: Combinable | None = None
    ) -> dict[int, float]:
        value = value or Count("pk")
        return {
            row[key]: row["n"] or 0
            for row in queryset.values(key).annotate(n=value).order_by()
            if row[key] is not None
        }

    downloads = grouped(PackageVersion.objects.all(), "package_id", Sum("download_count"))
    runs = grouped(job_model.objects.all(), "version__package_id")
    purchases = grouped(OrderLine.objects.filter(order__status__in=paid), "package_id")
    views = grouped(
        AnalyticsEvent.objects.filter(kind=AnalyticsEvent.Kind.PACKAGE_VIEW), "package_id"
    )
    recent: dict[int, float] = defaultdict(float)
    version_package = {}
    recent_downloads = grouped(
        AuditEntry.objects.filter(
            action="registry.version.downloaded",
            target_type="registry.packageversion",
            created_at__gte=since,
        ),
        "target_id",
    )
    if recent_downloads:
        version_package = dict(
            PackageVersion.objects.filter(pk__in=[int(pk) for pk in recent_downloads]).values_list(
                "pk", "package_id"
            )
        )
    for version_id, n in recent_downloads.items():
        package_id = version_package.get(int(version_id))
        if package_id:
            recent[package_id] += WEIGHTS["download"] * n
    for package_id, n in grouped(
        job_model.objects.filter(created_at__gte=since), "version__package_id"
    ).items():
        recent[package_id] += WEIGHTS["run"] * n
    for package_id, n in grouped(
        OrderLine.objects.filter(order__status__in=paid, order__paid_at__gte=since), "package_id"
    ).items():
        recent[package_id] += WEIGHTS["purchase"] * n
    for package_id, n in grouped(
        AnalyticsEvent.objects.filter(kind=AnalyticsEvent.Kind.PACKAGE_VIEW, created_at__gte=since),
        "package_id",
    ).items():
        recent[package_id] += WEIGHTS["view"] * n

    changed = []
    active = set(downloads) | set(runs) | set(purchases) | set(views) | set(recent)
    rows = PackageSearch.objects.filter(pk__in=active) | PackageSearch.objects.filter(
        trending_score__gt=0
    )
    for row in rows.only(
        "pk", "downloads_count", "runs_count", "purchases_count", "views_count", "trending_score"
    ):
        pk = row.pk
        new = {
            "downloads_count": int(downloads.get(pk, 0)),
            "runs_count": int(runs.get(pk, 0)),
            "purchases_count": int(purchases.get(pk, 0)),
            "views_count": int(views.get(pk, 0)),
            "trending_score": round(recent.get(pk, 0.0), 3),
        }
        new["popularity"] = new["downloads_count"] + new["runs_count"] + new["purchases_count"]
        if any(getattr(row, name) != value for name, value in new.items() if name != "popularity"):
            for name, value in new.items():
                setattr(row, name, value)
            row.stats_at = now
            changed.append(row)
    PackageSearch.objects.bulk_update(
        changed,
        [
            "downloads_count",
            "runs_count",
            "purchases_count",
            "views_count",
            "popularity",
            "trending_score",
            "stats_at",
        ],
        batch_size=1000,
    )
    return len(changed)
