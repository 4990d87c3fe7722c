"""Licenses: issue, keys (shown once, stored as HMAC), rotate, revoke, suspend, verify, activate.

Verification answers are documents signed with the platform's Ed25519 key
(``fmugateway.core.signing``) so an installed tool can trust them (and cache them) offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import FilteredRelation, Q
from django.utils import timezone

from accounts.models import User
from fmugateway.core.audit import record
from fmugateway.core.db import prepared_cursor
from fmugateway.core.errors import ConflictError, DomainError, NotFoundError
from fmugateway.core.signing import sign_document
from licensing import license_keys
from licensing.models import Activation, BillingInterval, License, LicenseKind, PricingModel
from licensing.signals import subscription_license_status_changed

if TYPE_CHECKING:  # commerce sells licenses; licensing never imports it at run time
    from marketplace.models import Listing, OrderLine


class VerifyCode:
    VALID = "VALID"
    NOT_FOUND = "NOT_FOUND"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    SUSPENDED = "SUSPENDED"
    TOO_MANY_ACTIVATIONS = "TOO_MANY_ACTIVATIONS"
    FINGERPRINT_MISMATCH = "FINGERPRINT_MISMATCH"
    NO_ENTITLEMENT = "NO_ENTITLEMENT"


_STATUS_CODES = {
    License.Status.REVOKED: VerifyCode.REVOKED,
    License.Status.SUSPENDED: VerifyCode.SUSPENDED,
    License.Status.EXPIRED: VerifyCode.EXPIRED,
}
ENTITLEMENTS = ("download", "execute")
MAX_FINGERPRINT_LENGTH = 200


@dataclass(frozen=True)
class IssuedKey:
    """A license with its key in clear: the only time the key exists outside the buyer's hands."""

    license: License
    key: str


def _snapshot(license: License) -> dict[str, Any]:
    return {
        "status": license.status,
        "expires_at": license.expires_at,
        "runs_remaining": license.runs_remaining,
        "max_activations": license.max_activations,
        "key_hint": license.key_hint,
    }


def _expiry(listing: Listing, starts_at: datetime) -> datetime | None:
    if listing.pricing_model == PricingModel.TRIAL:
        return starts_at + timedelta(days=listing.trial_days) if listing.trial_days else None
    if listing.pricing_model == PricingModel.SUBSCRIPTION:
        months = 12 if listing.billing_interval == BillingInterval.YEAR else 1
        return starts_at + relativedelta(months=months)
    if listing.validity_days:
        return starts_at + timedelta(days=listing.validity_days)
    return None


def _run_quota(listing: Listing) -> int | None:
    if listing.pricing_model == PricingModel.TRIAL and listing.trial_runs:
        return listing.trial_runs
    if listing.kind == LicenseKind.EXECUTE_ONLY:
        return listing.run_quota or 0
    return None


def _seats(listing: Listing) -> int | None:
    """Named users of a seat license (the owner is one of them); the members an org license
    entitles (None: all of them); other kinds have none."""
    if listing.kind == LicenseKind.ORG:
        return listing.seats
    if listing.kind != LicenseKind.SEAT:
        return None
    return listing.seats or listing.max_activations


def _new_key_for(license: License) -> str:
    raw = license_keys.generate_key()
    license.key_hash = license_keys.hash_key(raw)
    license.key_hint = license_keys.key_hint(raw)
    return raw


@transaction.atomic
def issue_license(
    owner: User,
    listing: Listing,
    *,
    order_line: OrderLine | None = None,
    with_key: bool = True,
    actor: User | None = None,
) -> IssuedKey:
    """Issue the license an order line (or a moderator's grant) entitles ``owner`` to.

    Guarantees: at most one license per order line (a second call returns the first, without
    a key); the listing's template is snapshotted into ``terms``; execute-only and trial-by-runs
    licenses get their run quota; with ``with_key`` the key is returned once and only its HMAC is
    stored. One trial per buyer and listing (``trial_already_used``, enforced by the database).
    """
    if order_line is not None:
        existing = License.objects.filter(order_line=order_line).first()
        if existing is not None:
            return IssuedKey(existing, "")
    now = timezone.now()
    runs = _run_quota(listing)
    license = License(
        owner=owner,
        package_id=listing.package_id,
        listing=listing,
        order_id=order_line.order_id if order_line else None,
        order_line=order_line,
        kind=listing.kind,
        pricing_model=listing.pricing_model,
        can_download=listing.kind != LicenseKind.EXECUTE_ONLY,
        can_execute=True,
        runs_total=runs,
        runs_remaining=runs,
        max_activations=listing.max_activations,
        seats=_seats(listing),
        terms=listing.license_template,
        starts_at=now,
        expires_at=_expiry(listing, now),
    )
    if listing.pricing_model == PricingModel.SUBSCRIPTION:
        license.paid_until = license.expires_at
    raw = _new_key_for(license) if with_key else ""
    try:
        with transaction.atomic():
            license.save()
    except IntegrityError as exc:
        if listing.pricing_model == PricingModel.TRIAL:
            raise ConflictError(
                "You have already used the trial of this listing.", code="trial_already_used"
            ) from exc
        raise
    record(
        "marketplace.license.issued",
        actor=actor or owner,
        target=license,
        after={
            **_snapshot(license),
            "listing": listing.pk,
            "order_line": getattr(order_line, "pk", None),
        },
    )
    return IssuedKey(license, raw)


def _locked(license: License) -> License:
    return License.objects.select_for_update().get(pk=license.pk)


@transaction.atomic
def claim_key(license: License, actor: User) -> IssuedKey:
    """The first key of a license issued without one (paid orders, issued by the webhook)."""
    license = _locked(license)
    if license.key_hash:
        raise ConflictError(
            "This license's key was already shown; rotate it to get a new one.",
            code="key_already_issued",
        )
    raw = _new_key_for(license)
    license.save(update_fields=["key_hash", "key_hint", "updated_at"])
    record("marketplace.license.key_issued", actor=actor, target=license, after=_snapshot(license))
    return IssuedKey(license, raw)


@transaction.atomic
def rotate_key(license: License, actor: User) -> IssuedKey:
    """Replace the key: the old one stops working with this commit; the new one is shown once."""
    license = _locked(license)
    if license.status == License.Status.REVOKED:
        raise ConflictError("A revoked license cannot get a new key.", code="license_revoked")
    before = _snapshot(license)
    raw = _new_key_for(license)
    license.key_rotated_at = timezone.now()
    license.save(update_fields=["key_hash", "key_hint", "key_rotated_at", "updated_at"])
    record(
        "marketplace.license.rotated",
        actor=actor,
        target=license,
        before=before,
        after=_snapshot(license),
    )
    return IssuedKey(license, raw)


def _set_status(
    license: License, status: str, *, actor: User | None, reason: str, action: str
) -> License:
    before = _snapshot(license)
    license.status = status
    license.status_reason = reason[:255]
    fields = ["status", "status_reason", "updated_at"]
    if status == License.Status.REVOKED:
        license.revoked_at = timezone.now()
        fields.append("revoked_at")
    license.save(update_fields=fields)
    record(
        action,
        actor=actor,
        target=license,
        before=before,
        after={**_snapshot(license), "reason": reason},
    )
    return license


@transaction.atomic
def revoke_license(
    license: License,
    *,
    actor: User | None = None,
    reason: str = "",
    remove_entitlements: bool = False,
) -> License:
    """Revoke for good: verification answers REVOKED at once; no downloads, no runs.

    ``remove_entitlements`` (refunds) also zeroes the remaining run quota. Revoking a revoked
    license changes nothing."""
    license = _locked(license)
    if license.status != License.Status.REVOKED:
        license = _set_status(
            license,
            License.Status.REVOKED,
            actor=actor,
            reason=reason,
            action="marketplace.license.revoked",
        )
    if remove_entitlements and license.runs_remaining:
        License.objects.filter(pk=license.pk).update(runs_remaining=0)
        license.runs_remaining = 0
    return license


def expire_licenses(now: datetime | None = None, *, batch: int = 500) -> list[int]:
    """Mark ``expired`` the active licenses that are over: past ``expires_at`` (validity, trial
    days, a subscription's paid period or grace) or trials by runs with none left. One audit
    entry each; idempotent; rows another transaction holds are left for the next run. Returns
    the ids expired."""
    now = now or timezone.now()
    done: list[int] = []
    while True:
        with transaction.atomic():
            rows = list(
                License.objects.due_to_expire(now)
                .select_for_update(skip_locked=True)
                .order_by("id")[:batch]
            )
            for license in rows:
                reason = "trial runs used up" if license.trial_used_up else "validity ended"
                if license.subscription_status == "past_due":
                    reason = "renewal not paid within the grace period"
                _set_status(
                    license,
                    License.Status.EXPIRED,
                    actor=None,
                    reason=reason,
                    action="marketplace.license.expired",
                )
                done.append(license.pk)
        if len(rows) < batch:
            return done


@transaction.atomic
def suspend_license(license: License, *, actor: User | None = None, reason: str = "") -> License:
    """Suspend until reinstated: verification answers SUSPENDED; no downloads, no runs."""
    license = _locked(license)
    if license.status == License.Status.REVOKED:
        raise ConflictError("A revoked license cannot be suspended.", code="license_revoked")
    if license.status == License.Status.SUSPENDED:
        return license
    license = _set_status(
        license,
        License.Status.SUSPENDED,
        actor=actor,
        reason=reason,
        action="marketplace.license.suspended",
    )
    _follow_in_billing(license)
    return license


@transaction.atomic
def reinstate_license(license: License, *, actor: User | None = None, reason: str = "") -> License:
    license = _locked(license)
    if license.status != License.Status.SUSPENDED:
        raise ConflictError(
            "Only a suspended license can be reinstated.", code="license_not_suspended"
        )
    license = _set_status(
        license,
        License.Status.ACTIVE,
        actor=actor,
        reason=reason,
        action="marketplace.license.reinstated",
    )
    _follow_in_billing(license)
    return license


def _follow_in_billing(license: License) -> None:
    """A subscription license stops (or resumes) being billed with its suspension."""
    if license.subscription_id:
        subscription_license_status_changed.send(sender=License, license=license)


# --- Verification, activation ---------------------------------------------------------------


def clean_fingerprint(value: object) -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value.strip()) > MAX_FINGERPRINT_LENGTH
    ):
        raise DomainError(
            f"fingerprint must be 1 to {MAX_FINGERPRINT_LENGTH} characters.",
            code="invalid",
            fields={"fingerprint": [{"code": "invalid", "detail": "Invalid machine fingerprint."}]},
        )
    return value.strip()


def _answer(
    code: str,
    package: str,
    fingerprint: str,
    row: dict[str, Any] | None = None,
    *,
    nonce: str = "",
    activation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The signed verification document."""
    payload: dict[str, Any] = {
        "type": "fmugateway.license-check",
        "valid": code == VerifyCode.VALID,
        "code": code,
        "package": package,
        "fingerprint": fingerprint,
        "sku_kind": None,
        "expires_at": None,
        "entitlements": [],
        "remaining_runs": None,
        "activation": activation,
        "checked_at": timezone.now().isoformat(),
    }
    if nonce:
        payload["nonce"] = nonce
    if row is not None:
        expires = row["expires_at"]
        payload.update(
            sku_kind=row["kind"],
            expires_at=expires.isoformat() if expires else None,
            entitlements=[
                name
                for name, on in (("download", row["can_download"]), ("execute", row["can_execute"]))
                if on
            ],
            remaining_runs=row["runs_remaining"],
        )
    return sign_document(payload)


def _activation_info(row: dict[str, Any]) -> dict[str, Any] | None:
    if row.get("machine__id") is None:
        return None
    return {
        "fingerprint": row["machine__fingerprint"],
        "activated_at": row["machine__activated_at"].isoformat(),
        "activations_used": row["activation_count"],
        "max_activations": row["max_activations"],
    }


def _status_code(row: dict[str, Any], now: datetime, entitlement: str | None) -> str | None:
    status = row["status"]
    if status in _STATUS_CODES:
        return _STATUS_CODES[status]
    if row["starts_at"] > now:
        return VerifyCode.NOT_FOUND
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return VerifyCode.EXPIRED
    trial = row["pricing_model"] == PricingModel.TRIAL
    if trial and row["runs_total"] is not None and row["runs_remaining"] == 0:
        return VerifyCode.EXPIRED  # a trial by runs ends with its last run
    granted = {"download": row["can_download"], "execute": row["can_execute"]}
    if entitlement is not None and not granted.get(entitlement):
        return VerifyCode.NO_ENTITLEMENT
    runs_left = row["runs_remaining"] is None or row["runs_remaining"] > 0
    if not row["can_download"] and not runs_left:
        return VerifyCode.NO_ENTITLEMENT  # execute-only with its quota used up
    if entitlement == "execute" and not runs_left:
        return VerifyCode.NO_ENTITLEMENT
    return None


_VERIFY_FIELDS = (
    "pk",
    "status",
    "kind",
    "starts_at",
    "expires_at",
    "can_download",
    "can_execute",
    "runs_remaining",
    "max_activations",
    "activation_count",
    "pricing_model",
    "runs_total",
    "machine__id",
    "machine__fingerprint",
    "machine__activated_at",
)


# Hand-written because it is the hot path: the ORM's query building costs more than the query.
# Equivalent to License.objects.filter(key_hash=..., package__slug=...) with a FilteredRelation
# to this machine's active activation (at most one: a partial unique index). Uses the unique
# index on key_hash. Column order = _VERIFY_FIELDS.
_LOOKUP_SQL = """
SELECT l.id, l.status, l.kind, l.starts_at, l.expires_at, l.can_download, l.can_execute,
       l.runs_remaining, l.max_activations, l.activation_count, l.pricing_model, l.runs_total,
       a.id, a.fingerprint, a.activated_at
  FROM marketplace_license l
  JOIN registry_package p ON p.id = l.package_id
  LEFT JOIN marketplace_activation a
         ON a.license_id = l.id AND a.fingerprint = %s AND a.deactivated_at IS NULL
 WHERE l.key_hash = %s AND p.slug = %s
 LIMIT 1
"""


def _lookup(key_hash: str, package: str, fingerprint: str) -> dict[str, Any] | None:
    """One indexed query: the license by key hash and package, with this machine's activation."""
    if connection.vendor != "postgresql":  # SQLite returns dates as text from raw SQL
        found: dict[str, Any] | None = (
            License.objects.filter(key_hash=key_hash, package__slug=package)
            .annotate(
                machine=FilteredRelation(
                    "activations",
                    condition=Q(
                        activations__fingerprint=fingerprint,
                        activations__deactivated_at__isnull=True,
                    ),
                )
            )
            .values(*_VERIFY_FIELDS)
            .first()
        )
        return found
    with prepared_cursor() as cursor:
        cursor.execute(_LOOKUP_SQL, [fingerprint, key_hash, package])
        row = cursor.fetchone()
    return dict(zip(_VERIFY_FIELDS, row, strict=True)) if row is not None else None


def verify_license(
    key: str,
    package: str,
    fingerprint: str,
    *,
    entitlement: str | None = None,
    nonce: str = "",
    activate: bool = False,
    label: str = "",
    ip: str | None = None,
) -> dict[str, Any]:
    """Answer "is this key good for this package on this machine?" as a signed document.

    Codes, checked in this order: ``NOT_FOUND`` (malformed or unknown key, or a key of another
    package: the answer never says which), ``REVOKED``, ``SUSPENDED``, ``EXPIRED``,
    ``NO_ENTITLEMENT`` (the asked-for entitlement is not granted, or the run quota is used up),
    ``FINGERPRINT_MISMATCH`` (this machine is not activated; with ``activate`` it is activated
    when a slot is free) or ``TOO_MANY_ACTIVATIONS`` (``activate`` and no slot left), else
    ``VALID``. Read-only unless ``activate``; one database query.
    """
    key_hash = license_keys.hash_key(key)
    if key_hash is None:
        return _answer(VerifyCode.NOT_FOUND, package, fingerprint, nonce=nonce)
    row = _lookup(key_hash, package, fingerprint)
    if row is None:
        return _answer(VerifyCode.NOT_FOUND, package, fingerprint, nonce=nonce)
    code = _status_code(row, timezone.now(), entitlement)
    if code is not None:
        return _answer(code, package, fingerprint, row, nonce=nonce)
    if row["machine__id"] is None:
        if not activate:
            return _answer(VerifyCode.FINGERPRINT_MISMATCH, package, fingerprint, row, nonce=nonce)
        return activate_license(key, package, fingerprint, label=label, ip=ip, nonce=nonce)
    return _answer(
        VerifyCode.VALID, package, fingerprint, row, nonce=nonce, activation=_activation_info(row)
    )


def _locked_row(
    key: str, package: str, fingerprint: str
) -> tuple[License | None, dict[str, Any] | None]:
    key_hash = license_keys.hash_key(key)
    if key_hash is None:
        return None, None
    license = (
        License.objects.select_for_update(of=("self",))
        .filter(key_hash=key_hash, package__slug=package)
        .first()
    )
    if license is None:
        return None, None
    return license, {
        "status": license.status,
        "kind": license.kind,
        "starts_at": license.starts_at,
        "expires_at": license.expires_at,
        "can_download": license.can_download,
        "can_execute": license.can_execute,
        "runs_remaining": license.runs_remaining,
        "max_activations": license.max_activations,
        "activation_count": license.activation_count,
        "pricing_model": license.pricing_model,
        "runs_total": license.runs_total,
    }


def _info(activation: Activation, license: License) -> dict[str, Any]:
    return {
        "fingerprint": activation.fingerprint,
        "activated_at": activation.activated_at.isoformat(),
        "activations_used": license.activation_count,
        "max_activations": license.max_activations,
    }


@transaction.atomic
def activate_license(
    key: str,
    package: str,
    fingerprint: str,
    *,
    label: str = "",
    ip: str | None = None,
    nonce: str = "",
) -> dict[str, Any]:
    """Activate this machine on the license (idempotent per machine), as a signed answer.

    Concurrency-safe: the license row is locked (``SELECT ... FOR UPDATE``) while its active
    activations are counted and the new one inserted, so N simultaneous activations of a license
    with ``max_activations`` M leave exactly min(N, M) machines activated.
    """
    license, row = _locked_row(key, package, fingerprint)
    if license is None or row is None:  # both or neither
        return _answer(VerifyCode.NOT_FOUND, package, fingerprint, nonce=nonce)
    code = _status_code(row, timezone.now(), None)
    if code is not None:
        return _answer(code, package, fingerprint, row, nonce=nonce)
    now = timezone.now()
    existing = license.activations.filter(
        fingerprint=fingerprint, deactivated_at__isnull=True
    ).first()
    if existing is not None:
        Activation.objects.filter(pk=existing.pk).update(last_seen_at=now)
        return _answer(
            VerifyCode.VALID,
            package,
            fingerprint,
            row,
            nonce=nonce,
            activation=_info(existing, license),
        )
    if license.activation_count >= license.max_activations:
        return _answer(VerifyCode.TOO_MANY_ACTIVATIONS, package, fingerprint, row, nonce=nonce)
    activation = Activation.objects.create(
        license=license,
        fingerprint=fingerprint,
        label=label[:200],
        ip=ip,
        activated_at=now,
        last_seen_at=now,
    )
    license.activation_count += 1
    license.save(update_fields=["activation_count", "updated_at"])
    record(
        "marketplace.license.activated",
        actor=None,  # the key is the credential; no signed-in user
        target=license,
        after={
            "fingerprint": fingerprint,
            "label": label,
            "activations_used": license.activation_count,
        },
    )
    row["activation_count"] = license.activation_count
    return _answer(
        VerifyCode.VALID,
        package,
        fingerprint,
        row,
        nonce=nonce,
        activation=_info(activation, license),
    )


def _deactivate(license: License, activation: Activation, actor: User | None) -> None:
    Activation.objects.filter(pk=activation.pk).update(deactivated_at=timezone.now())
    license.activation_count = max(0, license.activation_count - 1)
    license.save(update_fields=["activation_count", "updated_at"])
    record(
        "marketplace.license.deactivated",
        actor=actor,
        target=license,
        after={"fingerprint": activation.fingerprint, "activations_used": license.activation_count},
    )


@transaction.atomic
def deactivate_license(
    key: str, package: str, fingerprint: str, *, nonce: str = ""
) -> dict[str, Any]:
    """Free this machine's activation slot (key holders may do this on any license state)."""
    license, row = _locked_row(key, package, fingerprint)
    if license is None or row is None:  # both or neither
        return _answer(VerifyCode.NOT_FOUND, package, fingerprint, nonce=nonce)
    activation = license.activations.filter(
        fingerprint=fingerprint, deactivated_at__isnull=True
    ).first()
    if activation is None:
        return _answer(VerifyCode.FINGERPRINT_MISMATCH, package, fingerprint, row, nonce=nonce)
    _deactivate(license, activation, None)
    row["activation_count"] = license.activation_count
    code = _status_code(row, timezone.now(), None) or VerifyCode.VALID
    # "valid" here answers for the license; this machine no longer holds an activation.
    return _answer(code, package, fingerprint, row, nonce=nonce)


@transaction.atomic
def deactivate_activation(license: License, activation_id: int, actor: User) -> Activation:
    """The owner frees a machine's slot from their account."""
    license = _locked(license)
    activation = license.activations.filter(pk=activation_id, deactivated_at__isnull=True).first()
    if activation is None:
        raise NotFoundError("No active activation with this id on this license.")
    _deactivate(license, activation, actor)
    activation.refresh_from_db()
    return activation


def offline_license_file(license: License, fingerprint: str, actor: User) -> dict[str, Any]:
    """A signed license file for machines that cannot reach the API.

    Bound to one activated machine; valid until ``OFFLINE_LICENSE_TTL_DAYS`` from now or the
    license's own expiry, whichever is first. Tools verify it with the published platform keys.
    """
    now = timezone.now()
    status = license.effective_status(now)
    if status != License.Status.ACTIVE:
        raise ConflictError(f"This license is {status}.", code=f"license_{status}")
    if not license.activations.filter(
        fingerprint=fingerprint, deactivated_at__isnull=True
    ).exists():
        raise ConflictError(
            "Activate this machine on the license first.", code="fingerprint_not_activated"
        )
    expires = now + timedelta(days=settings.OFFLINE_LICENSE_TTL_DAYS)
    if license.expires_at is not None:
        expires = min(expires, license.expires_at)
    payload = {
        "type": "fmugateway.offline-license",
        "license_id": license.pk,
        "licensee": license.owner.email,
        "package": license.package.slug,
        "sku_kind": license.kind,
        "entitlements": license.entitlements,
        "remaining_runs": license.runs_remaining,
        "fingerprint": fingerprint,
        "key_hint": license.key_hint,
        "issued_at": now.isoformat(),
        "expires_at": expires.isoformat(),
        "license_expires_at": license.expires_at.isoformat() if license.expires_at else None,
        "terms": license.terms,
    }
    record(
        "marketplace.license.offline_file_issued",
        actor=actor,
        target=license,
        after={"fingerprint": fingerprint, "expires_at": expires},
    )
    return sign_document(payload)
