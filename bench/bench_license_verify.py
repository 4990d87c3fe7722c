"""Throughput and latency of ``POST /api/v1/licenses/verify`` against a 1,000,000-license table.

Serves the product with gunicorn (sync, 2 workers) on 127.0.0.1 against PostgreSQL (database
``fmugw_bench``, or ``BENCH_DATABASE``, next to ``DATABASE_URL``'s; created and migrated) with
Redis as the cache for the rate limits (``REDIS_URL``, default redis://127.0.0.1:6379/15), and
compares, rounds interleaved in the same run:

* ``bare``: ``POST /bench/bare-verify`` (``bench/_verify_urls.py``, mounted by the settings
  module ``bench/_verify_settings.py``), a bare DRF view doing one HMAC of the key and one
  indexed lookup: the baseline;
* ``verify``: the product: per-IP and per-key rate limits (one Redis round trip), key
  normalisation + HMAC, one query (license, package, this machine's activation), the answer
  signed with Ed25519.

Both are driven with the same bodies: keys of activated licenses picked at random, so the
product answers ``VALID``. Load: ``wrk`` (16 connections, ``--seconds`` per round) when it is
installed, else a Python client with 16 threads (``--requests`` per round, stopped after
``--seconds`` at the latest). Loopback only.

Targets: ratio verify / bare >= 0.7 and verify p99 < 50 ms. Exit status 1 on wrong answers or
non-200 statuses, or when ``--strict`` and a target is missed (shared machines are noisy).

The 1,000,000 licenses are written once by one ``INSERT ... SELECT generate_series`` (keys and
their HMACs computed in SQL) and reused by later runs.

``--smoke``: a quick check that the product still answers and what it costs, in well under a
minute once seeded: 20,000 licenses (in ``fmugw_bench_smoke``, or ``BENCH_DATABASE``), three
rounds of 3 s, 1,500 requests per round. Its figures compare runs on the same machine only.

Usage: .venv/bin/python bench/bench_license_verify.py [--rounds 3] [--seconds 8]
    [--requests 4000] [--licenses 1000000] [--client auto|wrk|python] [--strict] [--smoke]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import (
    CONCURRENCY,
    REPO,
    Gunicorn,
    bench_env,
    ensure_database,
    pick_client,
    run_http,
    run_wrk,
    write_wrk_script,
)

PRODUCT_PATH = "/api/v1/licenses/verify"
BARE_PATH = "/bench/bare-verify"
PACKAGE = "bench-verify"
FINGERPRINT = "bench-machine"
ACTIVATED = 10_000  # licenses with an activation for FINGERPRINT (the keys the client sends)
KEY_HASH_SECRET = "bench-only-key-hash-secret-0123456789abcdefghijklmnop"


def key_for(index: int) -> str:
    """The benchmark's deterministic license key number ``index``: 24 upper-case hex digits of
    a SHA-256 (valid key characters), so PostgreSQL can compute the same keys (``INSERT_SQL``)."""
    body = hashlib.sha256(b"bench-verify:%d" % index).hexdigest()[:24].upper()
    return "FMUL-" + "-".join(body[i : i + 4] for i in range(0, 24, 4))


def hmac_pads(secret: str) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys, so SQL can compute an HMAC with sha256()."""
    key = secret.encode()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


# One statement writes all the licenses: keys derived from generate_series, their HMAC computed
# from sha256() and the padded keys (RFC 2104), so nothing crosses the wire but the statement.
INSERT_SQL = """
INSERT INTO marketplace_license (
    owner_id, package_id, listing_id, key_hash, key_hint, status, kind, pricing_model,
    can_download, can_execute, max_activations, activation_count, terms, starts_at,
    status_reason, subscription_id, subscription_status, created_at, updated_at)
SELECT %(owner)s, %(package)s, %(listing)s,
       encode(sha256(%(opad)s || sha256(%(ipad)s || convert_to('FMUL' || body, 'UTF8'))), 'hex'),
       'FMUL-…-' || right(body, 4), 'active', 'download', 'paid', true, true, 3,
       CASE WHEN i < %(activated)s THEN 1 ELSE 0 END, 'Benchmark license.', now(), '', '', '',
       now(), now()
  FROM (SELECT i, upper(left(encode(sha256(convert_to('bench-verify:' || i, 'UTF8')), 'hex'), 24))
               AS body
          FROM generate_series(0, %(total)s - 1) AS i) AS keys
 ORDER BY i
"""


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def server_env(var_dir: Path, database: str) -> dict[str, str]:
    env = bench_env(
        database,  # one per engineer on a shared server (BENCH_DATABASE)
        DEBUG="false",  # production-like: no query log, no debug pages
        SECRET_KEY="bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        KEY_HASH_SECRET=KEY_HASH_SECRET,
        ARTIFACT_MASTER_KEYS="bench-1:" + "A" * 43,  # DEBUG=false requires one
        PLATFORM_SIGNING_KEY=_pem(),
        TOKEN_SIGNING_KEY=_pem(),
        VAR_DIR=str(var_dir),
        LOG_LEVEL="error",
        SECURE_COOKIES="false",
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        # Limits are on (the throttles run and count) but high enough never to refuse.
        LICENSE_VERIFY_RATE_PER_IP="1000000000/min",
        LICENSE_VERIFY_RATE_PER_KEY="1000000000/min",
        API_ANON_THROTTLE_RATE="1000000000/min",
        DB_CONN_MAX_AGE="600",
    )
    for name in (
        "PLATFORM_SIGNING_KEY_FILE",
        "TOKEN_SIGNING_KEY_FILE",
        "KEY_HASH_SECRET_FILE",
        "ARTIFACT_MASTER_KEYS_FILE",
    ):
        env.pop(name, None)
    return env


def seed(env: dict[str, str], total: int) -> None:
    """``total`` licenses of one package (one INSERT), the first ``ACTIVATED`` activated."""
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from accounts.models import User
    from licensing import license_keys
    from licensing.models import Activation, License
    from marketplace.models import Listing
    from registry.models import Package

    owner, _ = User.objects.get_or_create(email="bench-verify-owner@fmugateway.local")
    buyer, _ = User.objects.get_or_create(email="bench-verify-buyer@fmugateway.local")
    package, _ = Package.objects.get_or_create(
        slug=PACKAGE,
        defaults={"owner": owner, "name": "Bench verify", "status": "listed", "is_free": False},
    )
    listing, _ = Listing.objects.get_or_create(
        package=package,
        name="bench",
        defaults={
            "kind": "download",
            "pricing_model": "paid",
            "price_amount": 100,
            "license_template": "Benchmark license.",
        },
    )
    existing = License.objects.filter(listing=listing)
    activated = Activation.objects.filter(license__listing=listing, deactivated_at=None)
    first = existing.order_by("id").first()
    if (
        existing.count() == total
        and activated.count() == min(ACTIVATED, total)
        and first is not None
        and first.key_hash == license_keys.hash_key(key_for(0))  # same key scheme and secret
    ):
        print(f"reusing {total:,} bench licenses", flush=True)
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM marketplace_activation WHERE license_id IN "
            "(SELECT id FROM marketplace_license WHERE listing_id = %s)",
            [listing.pk],
        )
        cursor.execute("DELETE FROM marketplace_license WHERE listing_id = %s", [listing.pk])
    ipad, opad = hmac_pads(settings.KEY_HASH_SECRET)
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_SQL,
            {
                "owner": buyer.pk,
                "package": package.pk,
                "listing": listing.pk,
                "ipad": ipad,
                "opad": opad,
                "activated": ACTIVATED,
                "total": total,
            },
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO marketplace_activation "
            "(license_id, fingerprint, label, activated_at, last_seen_at) "
            "SELECT id, %s, '', now(), now() FROM marketplace_license "
            "WHERE listing_id = %s AND activation_count = 1",
            [FINGERPRINT, listing.pk],
        )
        # VACUUM too: the dead index entries of a replaced data set make every plan slow
        # (the planner probes index ends) until autovacuum gets there.
        cursor.execute("VACUUM ANALYZE marketplace_license")
        cursor.execute("VACUUM ANALYZE marketplace_activation")
    first = License.objects.filter(listing=listing).order_by("id").first()
    assert first is not None and first.key_hash == license_keys.hash_key(key_for(0)), (
        "SQL and Python HMACs differ"
    )
    print(f"wrote {total:,} licenses in {time.perf_counter() - started:.1f} s", flush=True)


def bodies(count: int) -> list[bytes]:
    rng = random.Random(7)
    return [
        json.dumps(
            {
                "key": key_for(rng.randrange(ACTIVATED)),
                "package": PACKAGE,
                "fingerprint": FINGERPRINT,
            }
        ).encode()
        for _ in range(count)
    ]


def post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def check_answers(port: int, body: bytes) -> None:
    status, data = post(port, PRODUCT_PATH, body)
    if status != 200 or json.loads(data)["payload"]["code"] != "VALID":
        raise SystemExit(f"verify answered {status} {data[:300]!r}; expected VALID")
    status, data = post(port, BARE_PATH, body)
    if status != 200 or json.loads(data) != {"valid": True}:
        raise SystemExit(f"bare view answered {status} {data[:300]!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8, help="per round and variant (max)")
    parser.add_argument("--requests", type=int, default=4000, help="per round (python client)")
    parser.add_argument("--licenses", type=int, default=1_000_000)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--smoke", action="store_true", help="small and short (see above)")
    args = parser.parse_args()
    database = os.environ.get("BENCH_DATABASE", "fmugw_bench")
    if args.smoke:
        args.licenses, args.rounds, args.seconds, args.requests = 20_000, 3, 3, 1500
        # Its own table size: sharing the full run's database would re-seed it each time.
        database = os.environ.get("BENCH_DATABASE", "fmugw_bench_smoke")
    client = pick_client(args.client)

    var_dir = Path(tempfile.mkdtemp(prefix="fmugw-bench-verify-"))
    env = server_env(var_dir, database)
    ensure_database(env)
    seed(env, args.licenses)
    env["DJANGO_SETTINGS_MODULE"] = "_verify_settings"
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO / "bench"), str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    payloads = bodies(2000)
    variants = {"bare": BARE_PATH, "verify": PRODUCT_PATH}
    requests = {
        name: [("POST", path, body) for body in payloads] for name, path in variants.items()
    }
    scripts = {
        name: write_wrk_script(var_dir / f"{name}.lua", rows) for name, rows in requests.items()
    }

    def measure(name: str, seconds: int) -> dict:
        if client == "wrk":
            return run_wrk(server.port, scripts[name], seconds)
        return run_http(server.port, requests[name], seconds, limit=args.requests)

    results: dict[str, list[dict]] = {name: [] for name in variants}
    server = Gunicorn(env, workers=2)
    try:
        check_answers(server.port, payloads[0])
        for name in variants:  # warm both workers' connections and caches
            measure(name, 2)
        for _ in range(args.rounds):
            for name in variants:
                results[name].append(measure(name, args.seconds))
    finally:
        server.stop()
        shutil.rmtree(var_dir, ignore_errors=True)

    print(
        f"POST {PRODUCT_PATH}, {args.licenses:,} licenses, gunicorn sync x2, "
        f"{CONCURRENCY} connections, client {client}, {args.rounds} rounds; medians"
    )
    print(f"{'variant':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'bad':>5}")
    medians = {}
    bad = 0
    for name, rounds in results.items():
        medians[name] = {
            key: statistics.median(r[key] for r in rounds) for key in ("rps", "p50_ms", "p99_ms")
        }
        count = sum(r["requests"] for r in rounds)
        bad += sum(r["bad"] for r in rounds)
        m = medians[name]
        print(
            f"{name:<8} {m['rps']:>8.0f} {m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f} "
            f"{count:>9} {sum(r['bad'] for r in rounds):>5}"
        )
    ratio = medians["verify"]["rps"] / medians["bare"]["rps"]
    p99 = medians["verify"]["p99_ms"]
    ok = ratio >= 0.7 and p99 < 50
    print(f"ratio verify / bare = {ratio:.2f} (target >= 0.7); verify p99 {p99:.1f} ms (< 50)")
    print("targets met" if ok else "TARGET MISSED")
    if bad:
        print(f"{bad} requests failed or answered non-200", file=sys.stderr)
        return 1
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
