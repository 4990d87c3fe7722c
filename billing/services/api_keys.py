"""API keys: creation (the secret is returned once), lookup and revocation.

A key reads ``fmugw_live_<public id>_<secret>``. The public id (16 hex characters) is indexed and
finds the row; the secret (32 random bytes, urlsafe base64) is never stored: the row keeps
``HMAC-SHA256(KEY_HASH_SECRET, key)``, compared in constant time. HMAC, not a password hasher:
the secret has 256 bits of entropy, so a slow hash adds nothing but ~200 ms per request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field, Model, Q
from django.utils import timezone

from accounts.models import User
from billing.models import KEY_PREFIX, AccountPlan, ApiKey
from billing.services import key_cache, key_lockout
from fmugateway.core.audit import record
from fmugateway.core.errors import DomainError
from fmugateway.core.scopes import SCOPES

PUBLIC_ID_BYTES = 8
SECRET_BYTES = 32
MAX_ACTIVE_KEYS_PER_USER = 50
# last_used_at is written at most this often per key (a conditional UPDATE, not every request).
LAST_USED_RESOLUTION = timedelta(seconds=60)

_KEY_RE = re.compile(
    rf"^{re.escape(KEY_PREFIX)}(?P<public_id>[0-9a-f]{{{PUBLIC_ID_BYTES * 2}}})_"
    r"(?P<secret>[A-Za-z0-9_-]{43,128})$"
)


class CredentialRejected(DomainError):
    """Why a presented key was refused; ``code`` is stable, the authentication layer maps it."""

    status_code = 401


class KeyMalformed(CredentialRejected):
    code = "api_key_malformed"
    detail = "The API key is malformed; expected fmugw_live_<id>_<secret>."


class KeyUnknown(CredentialRejected):
    code = "api_key_unknown"
    detail = "The API key is not valid."


class KeyRevoked(CredentialRejected):
    code = "api_key_revoked"
    detail = "The API key has been revoked."


class KeyExpired(CredentialRejected):
    code = "api_key_expired"
    detail = "The API key has expired."


class AccountDisabled(CredentialRejected):
    code = "account_disabled"
    detail = "The account that owns this credential is disabled."


class TooManyAttempts(CredentialRejected):
    """Too many failed presentations of this key id, or of any key, from this client IP
    (``billing.services.key_lockout``); refused whatever the secret, for ``retry_after`` s."""

    status_code = 429
    code = "too_many_attempts"
    detail = "Too many failed API key attempts from your address; try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


@dataclass(frozen=True)
class NewKey:
    """A freshly created key: ``secret`` is the full key, shown to its owner this once."""

    key: ApiKey
    secret: str


def hash_key(raw_key: str) -> str:
    return hmac.new(settings.KEY_HASH_SECRET.encode(), raw_key.encode(), hashlib.sha256).hexdigest()


def parse_key(raw_key: str) -> str:
    """The public id of a well-formed key; raises ``KeyMalformed`` otherwise."""
    match = _KEY_RE.match(raw_key)
    if match is None:
        raise KeyMalformed()
    return match["public_id"]


def normalize_scopes(scopes: str | Collection[str]) -> list[str]:
    if isinstance(scopes, str):
        scopes = scopes.replace(",", " ").split()
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise DomainError(
            f"Unknown scope(s): {', '.join(unknown)}. Allowed: {', '.join(SCOPES)}.",
            code="invalid_scope",
            fields={"scopes": [{"code": "invalid_scope", "detail": "Unknown scope."}]},
        )
    if not scopes:
        raise DomainError("A key needs at least one scope.", code="invalid_scope")
    return [scope for scope in SCOPES if scope in set(scopes)]  # canonical order


def create_api_key(
    owner: User,
    *,
    name: str,
    scopes: str | Collection[str],
    expires_at: datetime | None = None,
    actor: User | None = None,
) -> NewKey:
    """Create a key for ``owner``; the returned ``secret`` is the only copy of the key.

    Guarantees: only the HMAC of the key is stored; scopes are a valid, non-empty subset of
    ``SCOPES``; an owner has at most ``MAX_ACTIVE_KEYS_PER_USER`` usable keys; the creation is
    audited in the same transaction.
    """
    scope_list = normalize_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError("expires_at must be in the future.", code="invalid_expiry")
    with transaction.atomic():
        if ApiKey.objects.owned_by(owner).usable().count() >= MAX_ACTIVE_KEYS_PER_USER:
            raise DomainError(
                f"An account can hold at most {MAX_ACTIVE_KEYS_PER_USER} active API keys; "
                "revoke one first.",
                code="too_many_api_keys",
                status_code=409,
            )
        public_id = secrets.token_hex(PUBLIC_ID_BYTES)
        raw_key = f"{KEY_PREFIX}{public_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
        key = ApiKey.objects.create(
            owner=owner,
            name=name,
            public_id=public_id,
            secret_hash=hash_key(raw_key),
            scopes=scope_list,
            expires_at=expires_at,
        )
        record(
            "billing.api_key.created",
            actor=actor or owner,
            target=key,
            after={"name": name, "scopes": scope_list, "expires_at": expires_at},
        )
    return NewKey(key=key, secret=raw_key)


def revoke_api_key(key: ApiKey, *, actor: User | None = None) -> bool:
    """Revoke ``key`` now. Idempotent: returns False (and audits nothing) if already revoked.

    Tokens minted from the key stop working too: token authentication checks the key per use.
    """
    with transaction.atomic():
        now = timezone.now()
        changed = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=actor if getattr(actor, "is_authenticated", False) else None
        )
        if not changed:
            return False
        key.revoked_at = now
        key_cache.invalidate(key.owner_id)  # a QuerySet.update() sends no signal
        record(
            "billing.api_key.revoked",
            actor=actor,
            target=key,
            before={"revoked_at": None},
            after={"revoked_at": now},
        )
    return True


def check_usable(key: ApiKey, now: datetime | None = None) -> None:
    """Raise the reason ``key`` cannot be used (revoked, expired, owner disabled), if any."""
    if key.revoked_at is not None:
        raise KeyRevoked()
    if key.is_expired(now):
        raise KeyExpired()
    if not key.owner.is_active:
        raise AccountDisabled()


def authenticate_key(
    raw_key: str,
    *,
    counter: key_cache.HitCounter | None = None,
    now: datetime | None = None,
    ip: str | None = None,
) -> ApiKey:
    """The usable key matching ``raw_key`` presented from client ``ip``, with its owner and plan
    loaded.

    Raises ``KeyMalformed``, ``KeyUnknown`` (no such id, or wrong secret: indistinguishable on
    purpose), ``KeyRevoked``, ``KeyExpired`` or ``AccountDisabled``. ``counter`` (a rate-limit
    window) is counted in the same Redis round trip as the revocation check. Malformed and
    unknown keys are counted as failures; past a limit this key id, or any key, from ``ip``
    raises ``TooManyAttempts`` instead, right secret or not (``key_lockout``).
    """
    try:
        public_id = parse_key(raw_key)
    except KeyMalformed:
        _count_failure(None, ip)
        raise
    try:
        return usable_key(public_id, digest=hash_key(raw_key), counter=counter, now=now, ip=ip)
    except KeyUnknown:
        _count_failure(public_id, ip)
        raise


def _count_failure(public_id: str | None, ip: str | None) -> None:
    wait = key_lockout.record_failure(public_id, ip)
    if wait is not None:
        raise TooManyAttempts(wait) from None


def _refuse_if_locked(lock_values: Iterable[bytes | str | int | None]) -> None:
    wait = key_lockout.wait_seconds(lock_values)
    if wait is not None:
        raise TooManyAttempts(wait)


def usable_key(
    public_id: str,
    *,
    digest: str | None = None,
    counter: key_cache.HitCounter | None = None,
    now: datetime | None = None,
    ip: str | None = None,
) -> ApiKey:
    """The usable key ``public_id`` (its HMAC must equal ``digest`` when given); see above.

    With Redis, served from this process's memory while the owner's revocation stamp is
    unchanged (``billing.services.key_cache``): no database query. A presented key (``digest``)
    is refused with ``TooManyAttempts`` while it, or any key, is locked out for ``ip``; the
    locks are read in the stamp's round trip.
    """
    now = now or timezone.now()
    locks = key_lockout.lock_keys(public_id, ip) if digest is not None else ()
    if not key_cache.enabled():
        key = fetch_key(public_id)
        if key is None or (digest is not None and not hmac.compare_digest(key.secret_hash, digest)):
            raise KeyUnknown()
        wait = key_lockout.locked_for(public_id, ip) if locks else None
        if wait is not None:
            raise TooManyAttempts(wait)
        check_usable(key, now)
        touch(key, now)
        return key
    entry = key_cache.get(public_id)
    if entry is not None:
        key = _instances(entry.row)
        if digest is not None and not hmac.compare_digest(key.secret_hash, digest):
            raise KeyUnknown()  # a wrong secret for a cached id: counted by authenticate_key
        stamp, held = key_cache.read_state(key.owner_id, counter, key.owner, lock_keys=locks)
        _refuse_if_locked(held)
        if stamp == entry.stamp:
            key.last_used_at = entry.last_used_at or key.last_used_at
            check_usable(key, now)
            touch(key, now)
            entry.last_used_at = key.last_used_at
            return key
        key_cache.forget(public_id)
        row = _fetch_row(public_id)  # the stamp was read first: see key_cache's docstring
    else:
        row = _fetch_row(public_id)
        first = _instances(row) if row is not None else None
        if first is None or (
            digest is not None and not hmac.compare_digest(first.secret_hash, digest)
        ):
            raise KeyUnknown()
        # Read the stamp, then the row again: a change between the two replaces the stamp.
        stamp, held = key_cache.read_state(first.owner_id, lock_keys=locks)
        _refuse_if_locked(held)
        row = _fetch_row(public_id) if stamp is not None else row
    if row is None:
        raise KeyUnknown()
    key = _instances(row)
    if digest is not None and not hmac.compare_digest(key.secret_hash, digest):
        raise KeyUnknown()
    check_usable(key, now)
    if stamp is None:
        key_cache.ensure_stamp(key.owner_id)
    touch(key, now)
    if stamp is not None:
        key_cache.put(public_id, row, stamp).last_used_at = key.last_used_at
    return key


def touch(key: ApiKey, now: datetime | None = None) -> None:
    """Record use, at most once per ``LAST_USED_RESOLUTION`` per key, without a race.

    The UPDATE is conditional, so when many workers see a stale value only one writes.
    """
    now = now or timezone.now()
    threshold = now - LAST_USED_RESOLUTION
    if key.last_used_at is not None and key.last_used_at > threshold:
        return
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=threshold)
    ).update(last_used_at=now)
    key.last_used_at = now


# --- The hot path: one key with its owner and plan, by public id ---------------------------
# Every API request runs this. On PostgreSQL the SQL is built once per process and the rows are
# turned into model instances directly: compiling the equivalent select_related() queryset
# costs more than the query itself (~1 ms of Python per request on our machines).


# A database value converter (``Field.get_db_converters``): (value, expression, connection).
_Converter = Callable[..., Any]
# One model's share of the row: the model, its attribute names, each field's converters.
_Part = tuple[type[Model], list[str], list[tuple[_Converter, ...]]]


def _column(field: Field[Any, Any] | None) -> str:
    assert field is not None and field.column is not None  # a concrete field has a column
    return field.column


@functools.cache
def _lookup_plan(vendor: str) -> tuple[str, list[_Part]]:
    quote = connection.ops.quote_name
    parts: list[_Part] = []
    columns: list[str] = []
    for alias, model in (("k", ApiKey), ("u", User), ("p", AccountPlan)):
        fields = list(model._meta.concrete_fields)
        converters = [tuple(field.get_db_converters(connection)) for field in fields]
        parts.append((model, [field.attname for field in fields], converters))
        columns += [f"{alias}.{quote(_column(field))}" for field in fields]
    # Identifiers come from model metadata, quoted; the only value is a query parameter.
    template = (
        "SELECT {columns} FROM {keys} k JOIN {users} u ON u.{user_pk} = k.{owner} "
        "LEFT JOIN {plans} p ON p.{plan_user} = u.{user_pk} WHERE k.{public_id} = %s"
    )
    sql = template.format(
        columns=", ".join(columns),
        keys=quote(ApiKey._meta.db_table),
        users=quote(User._meta.db_table),
        plans=quote(AccountPlan._meta.db_table),
        user_pk=quote(_column(User._meta.pk)),
        owner=quote(_column(ApiKey._meta.get_field("owner"))),
        plan_user=quote(_column(AccountPlan._meta.get_field("user"))),
        public_id=quote(_column(ApiKey._meta.get_field("public_id"))),
    )
    return sql, parts


def _fetch_row(public_id: str) -> key_cache.Row | None:
    sql, _ = _lookup_plan(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [public_id])
        row: key_cache.Row | None = cursor.fetchone()
        return row


def _instances(row: key_cache.Row) -> ApiKey:
    """New key, owner and plan instances from one row of ``_lookup_plan``'s query."""
    _, parts = _lookup_plan(connection.vendor)
    instances: list[Model | None] = []
    offset = 0
    for model, attnames, converters in parts:
        values = list(row[offset : offset + len(attnames)])
        offset += len(attnames)
        for index, field_converters in enumerate(converters):
            for convert in field_converters:
                values[index] = convert(values[index], None, connection)
        is_missing = values[0] is None  # the LEFT JOINed plan row may be absent
        instances.append(None if is_missing else model.from_db(connection.alias, attnames, values))
    key, user, plan = instances
    # Inner joins: only the plan can be missing.
    assert isinstance(key, ApiKey) and isinstance(user, User)
    ApiKey._meta.get_field("owner").set_cached_value(key, user)
    AccountPlan._meta.get_field("user").remote_field.set_cached_value(user, plan)
    if plan is not None:
        AccountPlan._meta.get_field("user").set_cached_value(plan, user)
    return key


def fetch_key(public_id: str) -> ApiKey | None:
    """The key with ``public_id``, its ``owner`` and the owner's ``account_plan`` loaded."""
    if connection.vendor != "postgresql":
        return (
            ApiKey.objects.select_related("owner", "owner__account_plan")
            .filter(public_id=public_id)
            .order_by()
            .first()
        )
    row = _fetch_row(public_id)
    return None if row is None else _instances(row)
