"""The audit log: one ``record(...)`` call every app uses for actions worth answering for."""

from __future__ import annotations

from typing import Any

from django.db import models

from fmugateway.core import context
from fmugateway.core.models import AuditEntry


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_safe(item) for item in value]
    return str(value)


def record(
    action: str,
    *,
    actor: Any = None,
    target: models.Model | None = None,
    before: dict | None = None,
    after: dict | None = None,
    ip: str | None = None,
    request_id: str | None = None,
) -> AuditEntry:
    """Append one entry to the audit log.

    ``action`` is a dotted verb such as ``registry.version.approved``. ``actor`` is a user (or
    ``None`` for the system). IP and request id default to the current request's, so services
    need not pass the request around. The entry is written in the caller's transaction: if the
    action rolls back, so does its audit line.
    """
    request = context.current()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEntry.objects.create(
        actor=actor if is_user else None,
        actor_label=(str(actor) if is_user else "system")[:255],
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:255] if target is not None else "",
        before=_json_safe(before),
        after=_json_safe(after),
        ip=ip if ip is not None else request.ip,
        request_id=request_id if request_id is not None else request.request_id,
    )
