"""What licenses let their owners do, for the other apps: download (registry) and run (execution).

Execution calls, around each job::

    entitlement = run_entitlement(user, version)      # None: no license grants a run
    consume_run(entitlement, job_reference=str(job.pk))   # once per job; 402 when none left
    refund_run(entitlement, job_reference=str(job.pk))    # platform failure: the run comes back

``consume_run`` and ``refund_run`` are idempotent per (license, job reference) and lock the
license row, so concurrent jobs can never take more runs than the quota holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from fmugateway.core.audit import record
from fmugateway.core.errors import DomainError
from licensing.models import License, RunConsumption
from registry.models import PackageVersion


class RunQuotaExhausted(DomainError):
    status_code = 402
    code = "run_quota_exhausted"
    detail = "This license has no runs left."


class EntitlementInactive(DomainError):
    status_code = 403
    code = "entitlement_inactive"
    detail = "This license no longer grants runs (revoked, suspended or expired)."


@dataclass(frozen=True)
class Entitlement:
    """A license that lets its owner run a package. ``runs_remaining`` None: unlimited."""

    license_id: int
    package_id: int
    kind: str
    runs_remaining: int | None
    expires_at: datetime | None

    @classmethod
    def of(cls, license: License) -> Entitlement:
        return cls(
            license_id=license.pk,
            package_id=license.package_id,
            kind=license.kind,
            runs_remaining=license.runs_remaining,
            expires_at=license.expires_at,
        )


def _license_id(entitlement: Entitlement | License | int) -> int:
    if isinstance(entitlement, Entitlement):
        return entitlement.license_id
    if isinstance(entitlement, License):
        return entitlement.pk
    return int(entitlement)


def run_entitlement(user, version: PackageVersion) -> Entitlement | None:
    """The license that should pay for ``user`` running ``version``, or ``None``.

    Usable (active, inside its window) licenses of the version's package that grant runs and
    have runs left, owned or held through a seat (``LicenseQuerySet.held_by``); unlimited ones
    (download, seat, org) first, then the one expiring soonest.
    """
    if not getattr(user, "is_authenticated", False):
        return None
    license = (
        License.objects.usable()
        .held_by(user)
        .filter(package_id=version.package_id, can_execute=True)
        .filter(Q(runs_remaining__isnull=True) | Q(runs_remaining__gt=0))
        .order_by(
            F("runs_remaining").asc(nulls_first=True), F("expires_at").asc(nulls_last=True), "id"
        )
        .first()
    )
    return Entitlement.of(license) if license is not None else None


def grants_run(user, version: PackageVersion) -> bool:
    """A run rule (``execution.services.register_run_rule``): some license grants a run."""
    return run_entitlement(user, version) is not None


def grants_download(user, version: PackageVersion) -> bool:
    """The download rule registered with ``registry.access``: a usable license that includes
    downloads (download, seat and org SKUs; never execute-only) for a validated version."""
    if version.validation_status != PackageVersion.ValidationStatus.PASSED:
        return False
    return (
        License.objects.usable()
        .held_by(user)
        .filter(package_id=version.package_id, can_download=True)
        .exists()
    )


@transaction.atomic
def consume_run(entitlement: Entitlement | License | int, job_reference: str) -> Entitlement:
    """Take one run for ``job_reference`` from the license; exactly once per reference.

    Guarantees: calling it again for the same job changes nothing and returns the current
    entitlement; a run refunded with ``refund_run`` and consumed again counts once more; raises
    ``RunQuotaExhausted`` (402 ``run_quota_exhausted``) with no runs left and
    ``EntitlementInactive`` (403) for a license that is no longer usable. Unlimited licenses
    record the run without a counter. The license row is locked for the whole check-and-take.
    """
    job_reference = str(job_reference)
    license = License.objects.select_for_update().get(pk=_license_id(entitlement))
    consumption = RunConsumption.objects.filter(
        license=license, job_reference=job_reference
    ).first()
    if consumption is not None and consumption.refunded_at is None:
        return Entitlement.of(license)
    if license.effective_status() != License.Status.ACTIVE or not license.can_execute:
        raise EntitlementInactive()
    if license.runs_remaining is not None:
        if license.runs_remaining <= 0:
            raise RunQuotaExhausted()
        license.runs_remaining -= 1
        license.save(update_fields=["runs_remaining", "updated_at"])
    if consumption is None:
        RunConsumption.objects.create(license=license, job_reference=job_reference)
    else:
        RunConsumption.objects.filter(pk=consumption.pk).update(
            refunded_at=None, consumed_at=timezone.now()
        )
    record(
        "marketplace.license.run_consumed",
        target=license,
        after={"job": job_reference, "runs_remaining": license.runs_remaining},
    )
    return Entitlement.of(license)


@transaction.atomic
def refund_run(entitlement: Entitlement | License | int, job_reference: str) -> Entitlement:
    """Give back the run ``job_reference`` took (a platform failure, not the model's fault).

    Idempotent: only a consumed, not yet refunded run comes back, once. A license revoked in the
    meantime does not get runs back.
    """
    job_reference = str(job_reference)
    license = License.objects.select_for_update().get(pk=_license_id(entitlement))
    claimed = RunConsumption.objects.filter(
        license=license, job_reference=job_reference, refunded_at__isnull=True
    ).update(refunded_at=timezone.now())
    if claimed and license.runs_remaining is not None and license.status != License.Status.REVOKED:
        license.runs_remaining += 1
        fields = ["runs_remaining", "updated_at"]
        runs_ended_it = license.status == License.Status.EXPIRED and license.runs_total
        if runs_ended_it and not (license.expires_at and license.expires_at <= timezone.now()):
            license.status = License.Status.ACTIVE  # a trial expired by its last run gets it back
            fields.append("status")
        license.save(update_fields=fields)
    if claimed:
        record(
            "marketplace.license.run_refunded",
            target=license,
            after={"job": job_reference, "runs_remaining": license.runs_remaining},
        )
    return Entitlement.of(license)
