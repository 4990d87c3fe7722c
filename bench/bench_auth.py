"""Cost of API-key (and token) authentication on a cheap list endpoint, through real gunicorn.

Serves the product with gunicorn (sync, 2 workers) on 127.0.0.1 against PostgreSQL and Redis and
drives ``GET /api/v1/jobs`` (the bench user has no jobs: an empty page) from an asyncio HTTP
client with a fixed number of concurrent connections. Variants, all in the same run, rounds
interleaved:

* ``no auth``: the same view class (``execution.api.JobListView``), under the same settings and
  middleware, mounted by this script at ``/bench/open-jobs`` with no credential work: its only
  authentication class hands DRF the bench user loaded once per process (no query, no header
  parsing), and it has no permission or throttle classes. It runs the same query (the user's
  jobs, counted) as the real endpoint: the baseline. The ratio ``api key / no auth`` is the price
  of authentication plus the per-account rate limit (target >= 0.8).
* ``api key``: ``X-API-Key``; key verification (HMAC), revocation check and the plan's rate
  limit, then the jobs page.
* ``token``: ``Authorization: Bearer <JWT>``; Ed25519 verification + the key's revocation check.
* ``401``: ``/api/v1/jobs`` without credentials: DRF refuses before any query (for reference: the
  cost of the stack with no database work at all).

Medians of ``--rounds`` are reported. Exit status 1 on unexpected status codes, or when the ratio
is below ``--min-ratio`` (0 by default: report only; shared machines are noisy).

Environment: ``DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/fmugateway_bench; the
database is created and migrated), ``REDIS_URL`` (cache for rate limits and the revocation
stamps; without it the database cache is used and keys are looked up per request),
``BENCH_SETTINGS_MODULE`` (default fmugateway.settings; this script wraps it to add the baseline
route).

Usage: .venv/bin/python bench/bench_auth.py [--requests 3000] [--rounds 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fmugateway_bench"
PATH = "/api/v1/jobs"
OPEN_PATH = "/bench/open-jobs"

# Written into a temporary directory for the server: the baseline route, same view class.
BENCH_URLS = """
import functools
import os

from django.urls import include, path
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny

from accounts.models import User
from execution.api import JobListView

USER_ID = int(os.environ["BENCH_AUTH_USER_ID"])


@functools.cache
def bench_user():
    return User.objects.get(pk=USER_ID)


class FixedUser(BaseAuthentication):
    def authenticate(self, request):
        return bench_user(), None


class OpenJobListView(JobListView):
    authentication_classes = [FixedUser]
    permission_classes = [AllowAny]
    throttle_classes = []


urlpatterns = [
    path("bench/open-jobs", OpenJobListView.as_view()),
    path("", include("fmugateway.urls")),
]
"""
BENCH_SETTINGS = """
from {base} import *  # noqa: F403

ROOT_URLCONF = "bench_auth_urls"
"""


def server_env(var_dir: Path, signing_pem: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SETTINGS_MODULE", "fmugateway.settings"),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(var_dir), str(REPO), os.environ.get("PYTHONPATH", "")])
        ),
        "DATABASE_URL": os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        "DEBUG": "false",  # production-like: no query log, no debug pages
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "KEY_HASH_SECRET": "bench-only-key-hash-secret-0123456789abcdefghijklmnop",
        "ARTIFACT_MASTER_KEYS": "bench-1:" + "A" * 43,  # DEBUG=false requires one
        "TOKEN_SIGNING_KEY": signing_pem,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "VAR_DIR": str(var_dir),
        "LOG_LEVEL": "error",  # no per-request 4xx warnings on the console
        "API_ANON_THROTTLE_RATE": "100000000/min",
        "SECURE_COOKIES": "false",
    }
    env.pop("TOKEN_SIGNING_KEY_FILE", None)
    env.pop("ARTIFACT_MASTER_KEYS_FILE", None)
    return env


def ensure_database(env: dict[str, str]) -> None:
    import psycopg

    admin_url, name = env["DATABASE_URL"].rsplit("/", 1)
    with psycopg.connect(admin_url + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0", "--noinput"], cwd=REPO, env=env, check=True)
    subprocess.run([*manage, "createcachetable"], cwd=REPO, env=env, check=True)


def make_credentials(env: dict[str, str]) -> tuple[int, str, str]:
    """A bench user on an unthrottled plan, with an API key and a token minted from it."""
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from accounts.models import User
    from billing.services import create_api_key, plans
    from billing.services.tokens import mint_token

    user, _ = User.objects.get_or_create(email="bench-auth@example.com")
    plans.change_plan(user, "enterprise", rate_limit_per_minute_override=10**9)
    new = create_api_key(user, name="bench", scopes=["read"])
    return user.pk, new.secret, mint_token(new.key).token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "fmugateway.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--worker-class",
        "sync",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=REPO, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("gunicorn exited at start") from None
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("gunicorn did not start within 30 s")


async def one_request(port: int, raw: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await reader.read()  # sync gunicorn closes the connection after each response
    writer.close()
    status = int(data[9:12]) if data.startswith(b"HTTP/1.") else 0
    return status, time.perf_counter() - started


async def load(port: int, path: str, headers: dict[str, str], total: int, concurrency: int):
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
    remaining = total
    statuses: dict[int, int] = {}
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status, seconds = await one_request(port, raw)
            statuses[status] = statuses.get(status, 0) + 1
            latencies.append(seconds)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": total / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "statuses": statuses,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="per round and variant")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--min-ratio", type=float, default=0.0)
    args = parser.parse_args()

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signing_pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with tempfile.TemporaryDirectory(prefix="fmugw-bench-auth-") as var_dir:
        env = server_env(Path(var_dir), signing_pem)
        ensure_database(env)
        user_id, api_key, token = make_credentials(env)
        (Path(var_dir) / "bench_auth_urls.py").write_text(BENCH_URLS)
        (Path(var_dir) / "bench_auth_settings.py").write_text(
            BENCH_SETTINGS.format(base=env["DJANGO_SETTINGS_MODULE"])
        )
        env["DJANGO_SETTINGS_MODULE"] = "bench_auth_settings"
        env["BENCH_AUTH_USER_ID"] = str(user_id)
        variants = {
            "no auth": (OPEN_PATH, {}, 200),
            "api key": (PATH, {"X-API-Key": api_key}, 200),
            "token": (PATH, {"Authorization": f"Bearer {token}"}, 200),
            "401": (PATH, {}, 401),
        }
        port = free_port()
        server = start_gunicorn(env, port)
        try:
            results: dict[str, list[dict]] = {name: [] for name in variants}
            for path, headers, _ in variants.values():  # warm up both workers
                asyncio.run(load(port, path, headers, 200, args.concurrency))
            for _ in range(args.rounds):
                for name, (path, headers, _) in variants.items():
                    results[name].append(
                        asyncio.run(load(port, path, headers, args.requests, args.concurrency))
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(
        f"GET {PATH} via gunicorn (sync, 2 workers), {args.concurrency} connections, "
        f"{args.requests} requests x {args.rounds} rounds; medians"
    )
    print(f"{'variant':<16} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    medians = {}
    failed = False
    for name, rounds in results.items():
        medians[name] = statistics.median(r["rps"] for r in rounds)
        p50 = statistics.median(r["p50_ms"] for r in rounds)
        p99 = statistics.median(r["p99_ms"] for r in rounds)
        statuses: dict[int, int] = {}
        for r in rounds:
            for status, count in r["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        expected = variants[name][2]
        if set(statuses) != {expected}:
            failed = True
        print(f"{name:<16} {medians[name]:>8.0f} {p50:>8.2f} {p99:>8.2f}  {statuses}")
    ratio = medians["api key"] / medians["no auth"]
    # Rounds are interleaved, so each round's pair saw the same machine load: a steadier figure.
    paired = statistics.median(
        key["rps"] / base["rps"]
        for key, base in zip(results["api key"], results["no auth"], strict=True)
    )
    print(
        f"ratio api key / no auth = {ratio:.2f} (median of per-round ratios {paired:.2f}; "
        "target >= 0.8)"
    )
    print(f"ratio token   / no auth = {medians['token'] / medians['no auth']:.2f}")
    print(f"ratio api key / 401     = {medians['api key'] / medians['401']:.2f}")
    if failed:
        print("unexpected status codes", file=sys.stderr)
        return 1
    return 1 if ratio < args.min_ratio else 0


if __name__ == "__main__":
    sys.exit(main())
