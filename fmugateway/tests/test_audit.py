"""The audit log records who did what, and cannot be edited or deleted."""

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from fmugateway.core.audit import record
from fmugateway.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_record_captures_actor_target_and_request_context(user_client, user):
    response = user_client.patch(
        "/api/v1/me",
        {"display_name": "Ada"},
        format="json",
        HTTP_X_REQUEST_ID="req-42",
        REMOTE_ADDR="203.0.113.9",
    )

    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="accounts.profile.updated")
    assert entry.actor == user
    assert entry.target_type == "accounts.user"
    assert entry.target_id == str(user.pk)
    assert entry.after == {"display_name": "Ada"}
    assert entry.request_id == "req-42"
    assert entry.ip == "203.0.113.9"


def test_entries_cannot_be_changed_or_deleted_through_the_orm(user):
    entry = record("test.thing", actor=user)

    entry.action = "tampered"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="tampered")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()


def test_database_refuses_raw_update_and_delete_on_postgresql(user):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    entry = record("test.thing", actor=user)

    for sql in (
        "UPDATE core_auditentry SET action='x' WHERE id=%s",
        "DELETE FROM core_auditentry WHERE id=%s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).action == "test.thing"


def test_admin_cannot_add_change_or_delete_entries(admin_client, user):
    entry = record("test.thing", actor=user)

    assert admin_client.get("/admin/core/auditentry/").status_code == 200
    assert admin_client.get("/admin/core/auditentry/add/").status_code == 403
    change = admin_client.post(f"/admin/core/auditentry/{entry.pk}/change/", {"action": "x"})
    assert change.status_code in (302, 403)
    delete = admin_client.post(f"/admin/core/auditentry/{entry.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).action == "test.thing"


def test_system_actor_is_labelled():
    entry = record("system.tick")

    assert entry.actor is None
    assert entry.actor_label == "system"
