"""Fixtures shared by every app's tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIRequestHandler
from rest_framework.test import APIClient

from accounts.factories import UserFactory

REPO = Path(__file__).resolve().parent

# The live test server writes a response's headers and body in separate small packets; with
# Nagle's algorithm on, a keep-alive client then waits for a delayed ACK, ~40 ms per request
# (measured: 45 ms against 1-2 ms without). gunicorn, which serves the product, sets
# TCP_NODELAY on its listening socket itself.
WSGIRequestHandler.disable_nagle_algorithm = True

# Fixtures every app's tests use: sample FMUs, a creator and a package, artifact storage.
# Every API answer a test receives is checked against the OpenAPI document (conformance).
pytest_plugins = [
    "registry.tests.fixtures",
    "billing.tests.stripe_fixtures",
    "fmugateway.tests.conformance",
]


# What a test needs, read from the fixtures it uses, as markers that a lane can deselect
# (``make test-fast``: ``-m "not (worker or live or http or ...)"``).
NEEDS_BY_FIXTURE = {
    "celery_worker_process": "worker",
    "live_server": "live",
    "transactional_db": "transactional",
    # Test clients (``client``, ``api_client``, ``user_client``...): requests through the stack.
    "client": "http",
    "admin_client": "http",
    # FMUs run in the sandbox's processes (directly, or as jobs run eagerly).
    "sandbox": "sandbox",
    "eager_jobs": "sandbox",
    "hostile_fmu": "sandbox",
    "wholerun_fmu": "sandbox",
}


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for fixture, marker in NEEDS_BY_FIXTURE.items():
            if fixture in fixtures:
                item.add_marker(marker)
        if any(name.endswith("_client") for name in fixtures):
            item.add_marker("http")
        database = item.get_closest_marker("django_db")
        if database and (database.kwargs.get("transaction") or database.args[:1] == (True,)):
            item.add_marker("transactional")


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def moderator(db):
    return UserFactory(moderator=True)


@pytest.fixture(autouse=True)
def _no_lockout_counters():
    """Lockout and reset-limit counters live in the cache, which tests do not roll back: each
    test starts with none (the suite presents many bad API keys, all from 127.0.0.1)."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache
    from django.core.cache.backends.redis import RedisCache

    from accounts.lockout import RESET_LIMIT_KEY_PREFIX
    from billing.services.key_lockout import KEY_PREFIX
    from fmugateway.core.ratelimit import redis_client

    cache = caches["default"]
    if isinstance(cache, LocMemCache):  # the fast lane's: this process's alone
        cache.clear()
    elif isinstance(cache, RedisCache):
        client = redis_client(cache)
        for prefix in (RESET_LIMIT_KEY_PREFIX, KEY_PREFIX):
            stale = list(client.scan_iter(match=f"*{prefix}:*", count=1000))
            if stale:
                client.delete(*stale)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _database_url() -> str:
    from django.db import connection

    params = connection.settings_dict
    user = params.get("USER") or ""
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{params['NAME']}"


class _Worker:
    """Whether this session's worker runs, and how many tasks this process has sent."""

    running = False
    published = 0


def _count_published(**kwargs) -> None:
    _Worker.published += 1


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, localstripe_url):
    """A real ``celery worker`` process on the Redis broker, using the test database.

    Tests that use it need ``@pytest.mark.django_db(transaction=True)`` so the worker sees
    their committed rows.
    """
    from django.conf import settings

    from billing.tests.stripe_fixtures import TEST_SECRET_KEY

    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.fail("worker tests need REDIS_URL pointing at a Redis server")
    from fmugateway.celery import app

    with app.connection_for_write() as conn:
        try:
            conn.ensure_connection(max_retries=2, timeout=2)
        except Exception as exc:
            pytest.fail(f"Redis broker at {settings.CELERY_BROKER_URL} is unreachable: {exc}")
    app.control.purge()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fmugateway.settings_test",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
        # Tasks that call Stripe (payout transfers) reach this session's local server only.
        "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STRIPE_API_BASE": localstripe_url,
        # Hostile and hanging FMUs must end quickly in tests.
        "VALIDATION_WALL_SECONDS": "6",
        "VALIDATION_CPU_SECONDS": "5",
    }
    log_path = Path(settings.VAR_DIR) / "test-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "fmugateway",
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
            "--without-mingle",
            "--without-gossip",
            "-Q",
            "default,simulations,validation",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(encoding="utf-8")[-3000:]
            pytest.fail(f"celery worker exited early; see {log_path}:\n{tail}")
        if app.control.ping(timeout=0.5):
            break
    else:
        process.kill()
        pytest.fail(f"celery worker did not answer a ping within 60 s; see {log_path}")
    from celery.signals import after_task_publish

    after_task_publish.connect(_count_published, weak=False)
    _Worker.running = True
    yield process
    _Worker.running = False
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(autouse=True)
def _worker_idle_after_test(request):
    """After a test that used the real worker, or that sent tasks while this session's worker
    runs (an upload queues its validation, which the worker then takes), wait until the worker
    has nothing in hand, so the test database is not flushed under a task that is still
    writing (a deadlock otherwise)."""
    published = _Worker.published
    yield
    sent = _Worker.running and _Worker.published != published
    if "celery_worker_process" not in request.fixturenames and not sent:
        return
    from fmugateway.celery import app

    if sent:
        time.sleep(0.3)  # a task just sent may not have reached the worker yet

    deadline = time.monotonic() + 60
    # limit=1: the one worker's reply ends the wait (without it each call waits the timeout).
    inspector = app.control.inspect(timeout=1.0, limit=1)
    while time.monotonic() < deadline:
        active = inspector.active()
        reserved = inspector.reserved()
        # No reply (a busy worker under load) is not "idle": ask again.
        if (
            active
            and reserved is not None
            and not any(active.values())
            and not any(reserved.values())
        ):
            return
        time.sleep(0.2)
