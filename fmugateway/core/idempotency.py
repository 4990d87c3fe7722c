"""``Idempotency-Key`` support for POST endpoints that start jobs or take money.

The first request with a key runs and its response (status and JSON body) is kept for
``IDEMPOTENCY_TTL_HOURS``; a retry with the same key and the same body gets that response again
with ``Idempotent-Replayed: true``. A retry while the first is still running gets 409
``idempotency_in_progress``; the same key with a different body gets 422
``idempotency_key_reused``. Errors (4xx raised as exceptions, 5xx) are not kept, so a corrected
retry runs.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from fmugateway.core.errors import ConflictError, DomainError
from fmugateway.core.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"


def _owner(request: Request) -> str | None:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _fingerprint(request: Request) -> str:
    assert request.method is not None  # set on every request Django serves
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0")
    digest.update(request.get_full_path().encode())
    digest.update(b"\0")
    # The parsed body, not the raw bytes: DRF may have read the stream already (a multipart
    # body always is, to find its files), after which the raw body cannot be read again.
    data = request.data
    if hasattr(data, "lists"):  # a form: fields in order, files by name and size
        fields = [(key, [v for v in values if isinstance(v, str)]) for key, values in data.lists()]
        digest.update(json.dumps(sorted(fields)).encode())
    else:
        digest.update(json.dumps(data, sort_keys=True, default=str).encode())
    for name, upload in sorted(request.FILES.items()):
        if isinstance(upload, UploadedFile):  # MultiValueDict's type admits an empty list
            digest.update(f"{name}:{upload.name}:{upload.size}".encode())
    return digest.hexdigest()


def _claim(owner: str, key: str, request: Request, fingerprint: str):
    """Insert the in-progress record, or return the earlier one for this owner and key."""
    assert request.method is not None  # set on every request Django serves
    expired_before = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    IdempotencyRecord.objects.filter(owner=owner, key=key, created_at__lt=expired_before).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                owner=owner,
                key=key,
                method=request.method,
                path=request.path[:500],
                fingerprint=fingerprint,
            ), None
    except IntegrityError:
        return None, IdempotencyRecord.objects.filter(owner=owner, key=key).first()


def idempotent(view_method):
    """Decorate a DRF view's ``post`` (or action) to honour the ``Idempotency-Key`` header."""

    @functools.wraps(view_method)
    def wrapper(self, request: Request, *args, **kwargs):
        key = request.headers.get(HEADER)
        owner = _owner(request)
        if not key or owner is None:
            return view_method(self, request, *args, **kwargs)
        if len(key) > 255 or not key.isprintable():
            raise DomainError(
                "Idempotency-Key must be at most 255 printable characters.",
                code="idempotency_key_invalid",
            )
        fingerprint = _fingerprint(request)
        record, earlier = _claim(owner, key, request, fingerprint)
        if record is None:
            if earlier is None:  # finished and purged between our insert and read: run again
                return wrapper(self, request, *args, **kwargs)
            if earlier.fingerprint != fingerprint:
                raise DomainError(
                    "This Idempotency-Key was already used for a different request.",
                    code="idempotency_key_reused",
                    status_code=422,
                )
            if earlier.state == IdempotencyRecord.State.IN_PROGRESS:
                raise ConflictError(
                    "A request with this Idempotency-Key is still being processed; retry later.",
                    code="idempotency_in_progress",
                )
            return Response(
                earlier.response_body,
                status=earlier.status_code,
                headers={REPLAY_HEADER: "true"},
            )
        try:
            response = view_method(self, request, *args, **kwargs)
        except BaseException:
            record.delete()
            raise
        if response.status_code >= 500:
            record.delete()
            return response
        body = (
            json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
        )
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            state=IdempotencyRecord.State.DONE,
            status_code=response.status_code,
            response_body=body,
        )
        return response

    wrapper.idempotent = True  # the schema documents the header and 422 from this
    return wrapper


def purge_expired() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
