"""Catalog search throughput over 100,000 packages on PostgreSQL, through a real gunicorn.

Drives ``GET /catalog/?q=...`` (the storefront's search page: the stored ``tsvector`` matched
through its GIN index, a capped count, at most 1,000 matches ranked, the HTML page rendered, the
search recorded for analytics) at 16 connections (``wrk`` when installed, else a Python client)
and, in the same run and with the same client, the baseline "raw psycopg": the very statements
the page's search sends for each URL (captured from ``search.search`` in this process: one
statement, the capped count and one ranked page of cards), run by ``psycopg`` on one
persistent connection per worker thread in a minimal WSGI app (``_search_baseline_app``, no Django)
served by the same gunicorn with the same number of workers, answering the ids. Reports
requests/s, p50 and p99 of both, the ratio page / raw (target >= 0.5) and the page's p99
(target < 100 ms).

Why the baseline is served by gunicorn: the ratio should isolate what Django and our code (the
form, the ORM, the template, analytics) add on top of the same SQL on the same index. Replaying
the SQL from 16 threads on 16 direct PostgreSQL connections (the former baseline, still printed
as "direct psycopg" for reference) gives PostgreSQL all the CPU, runs 16 queries at once where
the site runs at most 2 (one per worker), and skips HTTP and WSGI entirely, so its ratio mostly
measured worker count and transport, not our code.

The queries are a fixed mix drawn from the catalog's own vocabulary (rare and common words, two-
word queries, a few with filters), the same list for both sides.

Usage: .venv/bin/python bench/bench_search.py [--packages 100000] [--seconds 10] [--rounds 5]
       [--workers 2] [--threads 1] [--client auto|wrk|python] [--strict]
``--threads 8`` measures both sides as ``make web`` runs them (gthread workers): on these two
cores it serves about as many pages, with a far longer tail (threads of one process take turns
at the interpreter).
Needs PostgreSQL (DATABASE_URL's server; a database ``fmugw_bench_search`` is created and seeded
once, ~5 minutes; drop it after changing how the catalog is written) and Redis (REDIS_URL) for the
cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _search_baseline_app import execute_statement
from _server import (
    CONCURRENCY,
    REPO,
    Gunicorn,
    ensure_database,
    pick_client,
    run_http,
    run_threads,
    run_wrk,
    write_wrk_script,
)
from bench_license_verify import server_env

DATABASE = "fmugw_bench_search"
RNG = random.Random(20261122)


def search_server_env(var_dir: Path) -> dict[str, str]:
    """The license benchmark's production-like server settings, on this benchmark's database."""
    return server_env(var_dir, DATABASE)


# Domain words with a skewed frequency: the first ones are common, the last ones rare.
def _words(text: str) -> list[str]:
    return text.split()


VOCABULARY = _words(
    "model thermal dynamics vehicle battery pump valve engine motor controller heat exchanger "
    "hydraulic electric gear clutch brake tire chassis suspension sensor inverter converter "
    "grid solar wind turbine compressor tank pipe flow pressure temperature robot arm joint "
    "spring damper oscillator powertrain drivetrain cooling heating ventilation refrigerant "
    "evaporator condenser boiler steam nuclear reactor rotor stator magnet bearing shaft "
    "camshaft crankshaft piston cylinder injector nozzle diffuser propeller aircraft wing "
    "satellite orbit thruster rocket hull ship rudder anchor crane hoist conveyor elevator "
    "escalator pendulum gyroscope accelerometer lidar radar camera antenna filter amplifier "
    "transistor diode capacitor inductor resistor transformer relay fuse breaker microgrid "
    "photovoltaic electrolyser hydrogen fuelcell supercapacitor flywheel geothermal tidal"
)
VARIABLES = _words(
    "speed torque omega angle position velocity acceleration force pressure flow temperature "
    "voltage current power energy soc efficiency setpoint error gain kp ki kd mass stiffness "
    "damping inertia friction heatflow enthalpy density viscosity level volume"
)
FILTERS = ["", "", "", "", "&fmi=2.0", "&certified=on", "&kind=me", "&price=paid"]


def zipf_word(rng: random.Random) -> str:
    # Index ~ Zipf: common words appear in a large share of packages, rare ones in few.
    index = min(int(rng.paretovariate(1.1)) - 1, len(VOCABULARY) - 1)
    return VOCABULARY[index]


def seed(env: dict[str, str], packages: int) -> None:
    """``packages`` listed packages with catalog rows and stored documents (once per database)."""
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.db import connection

    from accounts.models import Creator, User
    from catalog.models import Category, PackageSearch, PackageTag, Tag
    from catalog.services import search
    from registry.models import Package

    have = PackageSearch.objects.count()
    if have >= packages:
        print(f"bench database has {have:,} catalog rows; not seeding")
        return
    started = time.perf_counter()
    rng = random.Random(7)
    users = User.objects.bulk_create(
        User(email=f"bench-creator{i}@example.com", display_name=f"Bench Creator {i}")
        for i in range(200)
    )
    creators = Creator.objects.bulk_create(
        Creator(
            user=u,
            display_name=u.display_name,
            slug=f"bench-creator-{i}",
            support_email=u.email,
            status="approved",
        )
        for i, u in enumerate(users)
    )
    roots = [Category.objects.create(name=n.title(), slug=n) for n in ("mechanics", "thermal")]
    categories = roots + [
        Category.objects.create(name=f"{root.name} {i}", slug=f"sub{i}", parent=root)
        for root in roots
        for i in range(5)
    ]
    tags = Tag.objects.bulk_create(Tag(slug=w, name=w) for w in VOCABULARY[:40])
    batch = 5000
    for start in range(0, packages, batch):
        rows = []
        for i in range(start, min(packages, start + batch)):
            words = [zipf_word(rng) for _ in range(3)]
            rows.append(
                Package(
                    owner=users[i % len(users)],
                    name=f"{words[0].title()} {words[1]} {i}",
                    slug=f"bench-{i}",
                    summary=f"A {words[1]} {words[2]} model for {zipf_word(rng)} studies.",
                    description=" ".join(zipf_word(rng) for _ in range(60)),
                    status=Package.Status.LISTED,
                    is_free=i % 3 == 0,
                    tags=sorted({zipf_word(rng) for _ in range(2)}),
                )
            )
        created = Package.objects.bulk_create(rows)
        entries = [
            PackageSearch(
                package=p,
                listed=True,
                creator=creators[p.pk % len(creators)],
                category=categories[p.pk % len(categories)],
                title=p.name,
                keywords=" ".join([*p.tags, creators[p.pk % len(creators)].display_name]),
                variables="\n".join(rng.sample(VARIABLES, 6)),
                summary=p.summary,
                body=p.description,
                fmi_version=("2.0", "3.0")[p.pk % 2],
                supports_cs=True,
                supports_me=p.pk % 2 == 0,
                platform_linux=True,
                certified=p.pk % 5 == 0,
                validated=True,
                has_free=p.is_free,
                has_paid=not p.is_free,
                min_price_amount=0 if p.is_free else 1000 + p.pk % 10000,
                currency="EUR",
                rating_count=p.pk % 7,
                rating_avg=(p.pk % 5) + 1 if p.pk % 7 else 0,
                popularity=(p.pk * 37) % 1000,
                trending_score=(p.pk * 13) % 50,
            )
            for p in created
        ]
        # The vectors are written by the INSERT, as search.index_packages writes them: an
        # UPDATE afterwards would leave the table's first half empty pages (a layout on which
        # common words scan through them).
        for entry in entries:
            entry.document = search.document_expression(entry)
            entry.rank_document = search.rank_document_expression(entry)
        PackageSearch.objects.bulk_create(entries)
        tag_ids = {t.slug: t.pk for t in tags}
        PackageTag.objects.bulk_create(
            PackageTag(package=p, tag_id=tag_ids[t])
            for p in created
            for t in p.tags
            if t in tag_ids
        )
        print(f"  seeded {start + len(rows):,} packages", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"seeded {packages:,} packages in {time.perf_counter() - started:.0f} s")


def queries(n: int = 300) -> list[tuple[str, str]]:
    """(q, extra filters) pairs: 60% one word, 30% two words, 10% a variable name; words drawn
    evenly from the vocabulary, so from rare (a few hundred packages) to very common (most)."""
    out = []
    for _ in range(n):
        roll = RNG.random()
        if roll < 0.6:
            q = RNG.choice(VOCABULARY)
        elif roll < 0.9:
            q = f"{RNG.choice(VOCABULARY)} {RNG.choice(VOCABULARY)}"
        else:
            q = RNG.choice(VARIABLES)
        out.append((q, RNG.choice(FILTERS)))
    return out


def page_paths(pairs: list[tuple[str, str]]) -> list[str]:
    return [f"/catalog/?q={urllib.parse.quote_plus(q)}{f}" for q, f in pairs]


# --- the raw psycopg baseline ---------------------------------------------------------------


def search_statements(paths: list[str]) -> list[list[dict]]:
    """The SQL the catalog page's search runs for each path, as sent to PostgreSQL: the page's
    own form parses the query string and ``search.search`` runs with every statement recorded,
    as its literal text when Django bound the parameters client-side (its default) or as text,
    parameters and ``prepare`` when the page sent it as a prepared statement
    (``fmugateway.core.db.prepared_cursor``), so that the baseline sends it the same way."""
    from django.db import connection
    from django.http import QueryDict
    from psycopg import ClientCursor

    from catalog.forms import CatalogFilterForm
    from catalog.services import search

    def record(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        cursor = context["cursor"]
        if isinstance(cursor.cursor, ClientCursor):
            captured.append({"sql": connection.ops.last_executed_query(cursor, sql, params)})
        else:
            captured.append({"sql": sql, "params": list(params or []), "prepare": True})
        return result

    statements = []
    for path in paths:
        form = CatalogFilterForm(QueryDict(path.split("?", 1)[1]), auto_id="f-%s")
        captured: list[dict] = []
        with connection.execute_wrapper(record):
            search.search(form.to_query())
        statements.append(captured)
    return statements


def run_direct(dsn: str, statements: list[list[dict]], seconds: float, options: str = "") -> dict:
    """For reference only: each call runs one search's statements by psycopg on the thread's
    own connection, 16 threads at once, no HTTP (not the ratio's baseline; see the docstring)."""
    import psycopg

    def work(conn, rng) -> bool:
        for statement in statements[rng.randrange(len(statements))]:
            execute_statement(conn, statement).fetchall()
        return True

    return run_threads(
        work, seconds, connect=lambda: psycopg.connect(dsn, autocommit=True, options=options)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10, help="per round and side")
    # Five alternating rounds: this machine's speed swings by a quarter within minutes (raw
    # psycopg measured 375-640 req/s on one build); the median of five follows the build.
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker (1: sync workers)"
    )
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    client = pick_client(args.client)

    var_dir = Path(tempfile.mkdtemp(prefix="fmugw-bench-search-"))
    env = search_server_env(var_dir)
    ensure_database(env)
    seed(env, args.packages)
    # DEBUG=false serves hashed static files: the pages need the manifest.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=REPO,
        env=env,
        check=True,
    )
    dsn = env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    paths = page_paths(queries())
    statements = search_statements(paths)
    statements_file = var_dir / "search-statements.json"
    statements_file.write_text(json.dumps(dict(zip(paths, statements, strict=True))))
    requests = [("GET", path, None) for path in paths]
    script = write_wrk_script(var_dir / "search.lua", requests, seed=11)
    results: dict[str, list[dict]] = {"raw psycopg": [], "catalog page": [], "direct psycopg": []}
    from django.conf import settings

    pg_options = settings.DATABASES["default"].get("OPTIONS", {}).get("options", "")
    baseline_env = {
        **env,
        "BENCH_SEARCH_DSN": dsn,
        "BENCH_SEARCH_STATEMENTS": str(statements_file),
        "BENCH_SEARCH_PG_OPTIONS": pg_options,
    }
    server = baseline = None
    try:
        server = Gunicorn(env, workers=args.workers, threads=args.threads)
        baseline = Gunicorn(
            baseline_env,
            workers=args.workers,
            threads=args.threads,
            app="bench._search_baseline_app:application",
            ready_path=paths[0],
        )
        with urllib.request.urlopen(f"{server.base}{paths[0]}", timeout=30) as response:
            assert response.status == 200 and b"package-card" in response.read()

        def measure(port: int, seconds: int) -> dict:
            if client == "wrk":
                return run_wrk(port, script, seconds)
            return run_http(port, requests, seconds)

        # Warm both sides' workers (connections, caches) and the buffer cache.
        measure(server.port, 3)
        measure(baseline.port, 3)
        for _ in range(args.rounds):
            results["raw psycopg"].append(measure(baseline.port, args.seconds))
            results["catalog page"].append(measure(server.port, args.seconds))
            results["direct psycopg"].append(run_direct(dsn, statements, args.seconds, pg_options))
    finally:
        for process in (server, baseline):
            if process is not None:
                process.stop()
        shutil.rmtree(var_dir, ignore_errors=True)

    print(
        f"\nGET /catalog/?q=... over {args.packages:,} packages, gunicorn x{args.workers} "
        f"({'sync' if args.threads == 1 else f'{args.threads} threads each'}), "
        f"{CONCURRENCY} connections, client {client}, {len(paths)} queries, "
        f"{args.rounds} rounds of {args.seconds} s; medians"
    )
    print(f"{'side':<15} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'bad':>5}")
    medians = {}
    bad = 0
    for name, rounds in results.items():
        medians[name] = {
            key: statistics.median(r[key] for r in rounds) for key in ("rps", "p50_ms", "p99_ms")
        }
        bad += sum(r["bad"] for r in rounds)
        m = medians[name]
        print(
            f"{name:<15} {m['rps']:>8.0f} {m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f} "
            f"{sum(r['requests'] for r in rounds):>9} {sum(r['bad'] for r in rounds):>5}"
        )
    ratio = medians["catalog page"]["rps"] / medians["raw psycopg"]["rps"]
    p99 = medians["catalog page"]["p99_ms"]
    ok = ratio >= 0.5 and p99 < 100
    print(f"ratio page / raw = {ratio:.2f} (target >= 0.5); page p99 {p99:.1f} ms (< 100)")
    direct = medians["catalog page"]["rps"] / medians["direct psycopg"]["rps"]
    print(
        f"for reference: page / direct psycopg (16 threads, 16 connections, no HTTP) = "
        f"{direct:.2f}; raw psycopg is gunicorn x{args.workers} + psycopg, no Django"
    )
    print("targets met" if ok else "TARGET MISSED")
    if bad:
        print(f"{bad} requests failed or answered non-200", file=sys.stderr)
        return 1
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
