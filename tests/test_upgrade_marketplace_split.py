"""Upgrading a database from before the marketplace split keeps every row.

The database is migrated back to the schema ``main`` had before the split (every model still in
``marketplace``), a row is written to every marketplace table through the historical models,
and the database is migrated forward again. Each row must then be readable, unchanged, through
the model's new app; content types (with the permissions and admin log entries that point at
them) follow the models to their new app label, and the append-only audit log is untouched.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import uuid
from typing import Any

import pytest
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BEFORE_SPLIT = [
    ("accounts", "0001_initial_user"),
    ("billing", "0006_api_keys_gain_orders_and_account_scopes"),
    ("marketplace", "0013_bound_listing_numbers"),
    ("licensing", None),
    ("catalog", None),
    ("compliance", None),
]

# Where each marketplace model lives after the split (the tables keep their names).
NEW_HOMES = {
    "creator": "accounts",
    "organisation": "accounts",
    "membership": "accounts",
    "organisationinvitation": "accounts",
    "license": "licensing",
    "activation": "licensing",
    "seatassignment": "licensing",
    "runconsumption": "licensing",
    "creatorearning": "billing",
    "payoutbatch": "billing",
    "payoutitem": "billing",
    "category": "catalog",
    "tag": "catalog",
    "packagetag": "catalog",
    "packagesearch": "catalog",
    "review": "catalog",
    "reviewvote": "catalog",
    "reviewreport": "catalog",
    "wishlistitem": "catalog",
    "analyticsevent": "catalog",
    "takedowncomplaint": "compliance",
    "counternotice": "compliance",
    "listing": "marketplace",
    "coupon": "marketplace",
    "cart": "marketplace",
    "cartitem": "marketplace",
    "order": "marketplace",
    "orderline": "marketplace",
    "licenserenewal": "marketplace",
    "refund": "marketplace",
}

# Values the generic filler can't guess: rows that satisfy each table's check constraints.
OVERRIDES: dict[str, dict[str, Any]] = {
    "coupon": {"kind": "percent", "percent_off": 10},
    "order": {"subtotal_amount": 3, "discount_amount": 1, "total_amount": 2},
    "orderline": {"unit_amount": 3, "discount_amount": 1, "amount": 2},
    "creatorearning": {
        "kind": "sale",
        "payout_item": None,
        "gross_amount": 3,
        "platform_fee_amount": 1,
        "net_amount": 2,
    },
    "license": {"activation_count": 0, "max_activations": 3, "pricing_model": "paid"},
    "review": {"rating": 4},
    "category": {"parent": None},
}

_serial = itertools.count(1)


def _value(field: models.Field, made: dict[str, Any]) -> Any:
    if field.is_relation:
        assert field.related_model is not None
        return made.get(field.related_model._meta.label_lower)
    if field.choices:
        return field.choices[0][0] if field.choices[0][0] != "" else field.choices[-1][0]
    n = next(_serial)
    if isinstance(field, models.EmailField):
        return f"row{n}@example.com"
    if isinstance(field, models.SlugField):
        return f"row-{n}"
    if isinstance(field, models.URLField):
        return f"https://example.com/{n}"
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.GenericIPAddressField):
        return "127.0.0.1"
    if isinstance(field, (models.CharField, models.TextField)):
        text = f"v{n}"
        return text[: field.max_length] if field.max_length else text
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return datetime.date.today()
    if isinstance(field, models.DecimalField):
        return decimal.Decimal("1")
    if isinstance(
        field, (models.IntegerField, models.BigIntegerField, models.PositiveIntegerField)
    ):
        return 1
    if isinstance(field, models.JSONField):
        return {}
    return None


def _create(model: Any, made: dict[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.primary_key and field.auto_created:
            continue
        if field.has_default() and not field.is_relation:
            continue
        if field.null and not field.is_relation:
            continue
        if field.get_internal_type() == "SearchVectorField":
            continue
        values[field.name] = _value(field, made)
    values.update(OVERRIDES.get(model._meta.model_name, {}))
    return model.objects.create(**values)


def _fill(apps) -> dict[str, int]:
    """One row per marketplace table (and the users, packages and versions they point at)."""
    User = apps.get_model("accounts", "User")
    made: dict = {}
    user = User.objects.create(email="owner@example.com", password="!")
    made["accounts.user"] = user
    for label in ("registry.package", "registry.packageversion"):
        made[label] = _create(apps.get_model(*label.split(".")), made)
    order = [
        "creator",
        "organisation",
        "membership",
        "organisationinvitation",
        "listing",
        "coupon",
        "cart",
        "cartitem",
        "order",
        "orderline",
        "license",
        "activation",
        "seatassignment",
        "runconsumption",
        "licenserenewal",
        "refund",
        "payoutbatch",
        "payoutitem",
        "creatorearning",
        "category",
        "tag",
        "packagetag",
        "packagesearch",
        "review",
        "reviewvote",
        "reviewreport",
        "wishlistitem",
        "analyticsevent",
        "takedowncomplaint",
        "counternotice",
    ]
    assert sorted(order) == sorted(NEW_HOMES)
    ids = {}
    for name in order:
        row = _create(apps.get_model("marketplace", name), made)
        made[f"marketplace.{name}"] = row
        ids[name] = row.pk
    return ids


def _migrate(targets):
    """Migrate to ``targets``; the historical models of the whole project there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    applied = list(executor.loader.applied_migrations)
    return executor.loader.project_state(applied).apps


def test_every_marketplace_row_survives_the_split():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    assert not executor.migration_plan(latest), "an earlier test left the schema migrated back"
    old_apps = _migrate(BEFORE_SPLIT)
    try:
        ids = _fill(old_apps)
        ContentType = old_apps.get_model("contenttypes", "ContentType")
        AuditEntry = old_apps.get_model("core", "AuditEntry")
        old_types = {}
        for name, row_id in ids.items():
            old_types[name] = ContentType.objects.get_or_create(
                app_label="marketplace", model=name
            )[0].pk
            AuditEntry.objects.create(
                action="test.before_split",
                target_type=f"marketplace.{name}",
                target_id=str(row_id),
            )
        before = {
            name: dict(old_apps.get_model("marketplace", name).objects.filter(pk=pk).values().get())
            for name, pk in ids.items()
        }
    finally:
        new_apps = _migrate(latest)

    ContentType = new_apps.get_model("contenttypes", "ContentType")
    AuditEntry = new_apps.get_model("core", "AuditEntry")
    for name, home in NEW_HOMES.items():
        model = new_apps.get_model(home, name)
        assert model._meta.db_table == f"marketplace_{name}"
        assert model.objects.count() == 1, name
        assert dict(model.objects.values().get()) == before[name], name
        assert ContentType.objects.get(app_label=home, model=name).pk == old_types[name]
        assert AuditEntry.objects.filter(
            target_type=f"marketplace.{name}", target_id=str(ids[name])
        ).exists(), name
