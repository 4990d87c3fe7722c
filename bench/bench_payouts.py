"""Making a payout batch over a large earnings ledger on PostgreSQL, against raw SQL.

``create_payout_batch()`` (the service beat calls) locks the creators with available money,
sums their balances, writes a batch, one item per creator and currency (Django's bulk_create),
the ledger debits (one INSERT ... SELECT) and an audit entry. The baseline, in the same run,
sends the same statements from raw ``psycopg``, the items as one array INSERT. Both run in a
transaction that is rolled back, so every round starts from the same ledger. Reports the
median of each and the ratio raw / service (target >= 0.5).

Usage: .venv/bin/python bench/bench_payouts.py [--creators 20000] [--sales 5] [--rounds 5]
Needs PostgreSQL (DATABASE_URL's server; a database ``fmugw_bench_payouts`` is created and
seeded once).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import bench_env, ensure_database, setup_django

DATABASE = "fmugw_bench_payouts"


def seed(creators: int, sales: int) -> None:
    """``creators`` creators (8 in 10 connected, 1 in 10 unconnected, 1 in 10 half-way) with
    ``sales`` available sales each, written by a few INSERT ... SELECT statements."""
    from django.db import connection, transaction

    from accounts.models import Creator
    from billing.models import CreatorEarning

    if Creator.objects.count() == creators and CreatorEarning.objects.count() == creators * sales:
        print(f"reusing {creators:,} creators and {creators * sales:,} sales", flush=True)
        return
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for table in (
            "core_auditentry",
            "marketplace_creatorearning",
            "marketplace_payoutitem",
            "marketplace_payoutbatch",
            "marketplace_orderline",
            "marketplace_order",
            "marketplace_listing",
            "marketplace_creator",
            "registry_package",
            "accounts_user",
        ):
            cursor.execute(f"TRUNCATE {table} RESTART IDENTITY CASCADE")
        cursor.execute(
            "INSERT INTO accounts_user (password, is_superuser, email, display_name, is_staff, "
            "is_active, date_joined) SELECT '!', false, 'bench' || g || '@example.com', '', "
            "false, true, now() FROM generate_series(0, %s) g",
            [creators],
        )
        cursor.execute(
            "INSERT INTO marketplace_creator (user_id, display_name, slug, bio, website, "
            "support_email, status, review_note, applied_at, stripe_account_id, "
            "charges_enabled, payouts_enabled, details_submitted, created_at, updated_at) "
            "SELECT id, 'Creator ' || id, 'c' || id, '', '', email, 'approved', '', now(), "
            "CASE WHEN id % 10 = 0 THEN '' ELSE 'acct_bench' || id END, true, "
            "id % 10 <> 1, id % 10 <> 1, now(), now() FROM accounts_user WHERE id > 1"
        )
        cursor.execute(
            "INSERT INTO registry_package (name, slug, summary, description, category, tags, "
            "license_text, is_free, status, review_note, created_at, updated_at, owner_id) "
            "VALUES ('Bench', 'bench', '', '', '', '[]', '', false, 'listed', '', now(), now(), "
            "2)"
        )
        cursor.execute(
            "INSERT INTO marketplace_listing (package_id, name, description, kind, "
            "pricing_model, price_amount, currency, billing_interval, max_activations, "
            "license_template, is_active, created_at, updated_at) VALUES (1, 'Bench', '', "
            "'download', 'paid', 1000, 'EUR', '', 3, 'Bench', true, now(), now())"
        )
        cursor.execute(
            "INSERT INTO marketplace_order (number, status, currency, subtotal_amount, "
            "discount_amount, total_amount, refunded_amount, coupon_code, payment_reference, "
            "status_reason, created_at, updated_at, buyer_id, paid_at) VALUES ('BENCH', 'paid', "
            "'EUR', %s, 0, %s, 0, '', '', '', now(), now(), 1, now())",
            [creators * sales * 1000, creators * sales * 1000],
        )
        cursor.execute(
            "INSERT INTO marketplace_orderline (description, kind, pricing_model, currency, "
            "unit_amount, discount_amount, amount, refunded_amount, platform_fee_bps, "
            "created_at, listing_id, order_id, package_id) SELECT 'Bench', 'download', 'paid', "
            "'EUR', 1000, 0, 1000, 0, 1500, now(), 1, 1, 1 FROM generate_series(1, %s)",
            [creators * sales],
        )
        cursor.execute(
            "INSERT INTO marketplace_creatorearning (kind, currency, gross_amount, "
            "platform_fee_amount, net_amount, available_at, created_at, creator_id, "
            "order_line_id) SELECT 'sale', 'EUR', 1000, 150, 850, now() - interval '1 day', "
            "now(), (id - 1) %% %s + 1, id FROM marketplace_orderline",
            [creators],
        )
    with connection.cursor() as cursor:
        for table in ("marketplace_creatorearning", "marketplace_creator"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)


class Rollback(Exception):
    pass


def run_service() -> tuple[float, int]:
    from django.db import transaction

    from billing.services.payouts import create_payout_batch

    started = time.perf_counter()
    try:
        with transaction.atomic():
            batch = create_payout_batch()
            assert batch is not None, "no creator is payable: seed the data first"
            items = batch.items.count()
            raise Rollback
    except Rollback:
        pass
    return time.perf_counter() - started, items


TOTALS = (
    "SELECT creator_id, currency, SUM(net_amount) FROM marketplace_creatorearning "
    "WHERE available_at <= now() GROUP BY creator_id, currency"
)


def run_raw(url: str) -> tuple[float, int]:
    """The same statements as the service, written by hand, in one rolled-back transaction."""
    import psycopg

    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        creators = {
            row[0]: row
            for row in conn.execute(
                "SELECT id, status, stripe_account_id, details_submitted, payouts_enabled "
                "FROM marketplace_creator WHERE id IN (SELECT creator_id FROM "
                "marketplace_creatorearning WHERE available_at <= now()) ORDER BY id FOR UPDATE"
            )
        }
        rows = conn.execute(TOTALS).fetchall()
        payable = sorted((c, cur, t) for c, cur, t in rows if t > 0 and c in creators)
        inserted = conn.execute(
            "INSERT INTO marketplace_payoutbatch (reference, status, created_at, updated_at) "
            "VALUES ('raw', 'pending_approval', now(), now()) RETURNING id"
        ).fetchone()
        assert inserted is not None  # RETURNING always gives the row
        batch = inserted[0]
        statuses, reasons, destinations = [], [], []
        for creator, _, _ in payable:
            _, status, account, submitted, enabled = creators[creator]
            if status != "approved":
                reason = "creator_not_approved"
            elif not account:
                reason = "no_connect_account"
            elif not (submitted and enabled):
                reason = "connect_onboarding_incomplete"
            else:
                reason = ""
            statuses.append("skipped" if reason else "scheduled")
            reasons.append(reason)
            destinations.append(account)
        items = conn.execute(
            "INSERT INTO marketplace_payoutitem (batch_id, creator_id, currency, amount, "
            "status, skip_reason, destination, stripe_transfer_id, failure_code, "
            "failure_message, attempts, created_at, updated_at) SELECT %s, c, cur, a, s, r, d, "
            "'', '', '', 0, now(), now() FROM unnest(%s::bigint[], %s::text[], %s::bigint[], "
            "%s::text[], %s::text[], %s::text[]) AS t(c, cur, a, s, r, d) "
            "RETURNING id",
            [
                batch,
                [p[0] for p in payable],
                [p[1] for p in payable],
                [p[2] for p in payable],
                statuses,
                reasons,
                destinations,
            ],
        ).fetchall()
        conn.execute(
            "INSERT INTO marketplace_creatorearning (creator_id, payout_item_id, kind, currency, "
            "gross_amount, platform_fee_amount, net_amount, available_at, created_at) "
            "SELECT creator_id, id, 'payout', currency, -amount, 0, -amount, now(), now() "
            "FROM marketplace_payoutitem WHERE batch_id = %s AND status = 'scheduled'",
            [batch],
        )
        conn.execute(
            "INSERT INTO core_auditentry (actor_label, action, target_type, target_id, "
            "target_repr, before, after, request_id, created_at) VALUES ('system', "
            "'marketplace.payout_batch.created', 'marketplace.payoutbatch', %s, 'raw', "
            "'null', '{}', '', now())",
            [str(batch)],
        )
        elapsed = time.perf_counter() - started
        conn.rollback()
    return elapsed, len(items)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creators", type=int, default=20000)
    parser.add_argument("--sales", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    env = bench_env(DATABASE, LOG_LEVEL="error")
    ensure_database(env)
    setup_django(env)
    seed(args.creators, args.sales)
    service, raw = [], []
    for _ in range(args.rounds):  # alternate, so load changes hit both sides alike
        seconds, items = run_service()
        service.append(seconds)
        raw_seconds, raw_items = run_raw(env["DATABASE_URL"])
        raw.append(raw_seconds)
        assert items == raw_items, (items, raw_items)
    service_s, raw_s = statistics.median(service), statistics.median(raw)
    print(f"payout batch over {args.creators:,} creators, {args.creators * args.sales:,} sales")
    print(f"  service create_payout_batch: {service_s * 1000:8.1f} ms ({items:,} items)")
    print(f"  raw psycopg, same statements: {raw_s * 1000:8.1f} ms")
    print(f"  ratio raw / service: {raw_s / service_s:.2f} (target >= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
