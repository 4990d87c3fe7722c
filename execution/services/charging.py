"""How runs are paid: credits through billing's services, or a license's run quota.

A job's price is bounded by its limits, so the quote for its limits is reserved when it is
submitted (``InsufficientCredits``, 402, before anything is queued); the measured usage is
charged when it ends, or everything is released when the platform failed it.

The rule for licenses: a single job on a package the user neither owns nor moderates, that is
not free, and for which the user holds a license with a **run quota** (execute-only SKUs and
run-limited trials) takes one run from that quota instead of credits — the SKU's price includes
the compute. It is taken once per job and given back when the platform fails the job or the
job is cancelled before it runs. Licenses without a quota (download, seat, org) let their holder
run the model, but compute is paid in credits; sweeps are always paid in credits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings

from accounts.models import User, is_moderator
from registry.models import PackageVersion

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from billing.models import Reservation

# Failures that are the platform's fault: nothing is charged.
PLATFORM_ERROR_CODES = frozenset(
    {
        "sandbox_error",
        "sandbox_unavailable",
        "worker_lost",
        "results_error",
        "internal_error",
        "artifact_integrity",  # the stored FMU failed its check (core.storage)
        "artifact_key_unavailable",
    }
)


def run_limits(timeout_seconds: int) -> dict[str, float]:
    """The most one run may use: what its quote is computed from."""
    return {
        "cpu_seconds": float(cpu_limit(timeout_seconds)),
        "memory_mb": float(settings.SIMULATION_MEMORY_MB),
        "wall_seconds": float(timeout_seconds),
    }


def cpu_limit(timeout_seconds: int) -> int:
    # One second above the wall limit: a busy loop then ends as timed_out, not cpu_limit.
    return int(timeout_seconds) + 1


def _size_class(version: PackageVersion) -> str:
    from billing.services import model_size_class

    return str(model_size_class(version.size))


def reserve(user: User, version: PackageVersion, reference: str, timeouts: Iterable[int]) -> int:
    """Hold the quote of every run (one per timeout); returns the reservation's id."""
    from billing.services import JobLimits, quote_job, reserve_for_job

    size_class = _size_class(version)
    amount = sum(
        quote_job(user, JobLimits(**run_limits(timeout)), model_size_class=size_class)
        for timeout in timeouts
    )
    reservation = reserve_for_job(user, reference, max(amount, 1), model_size_class=size_class)
    return reservation.pk


def _reservation(reservation_id: int | None) -> Reservation | None:
    if reservation_id is None:
        return None
    from billing.models import Reservation

    return Reservation.objects.filter(pk=reservation_id).first()


def _usage(usage: Mapping[str, Any]) -> dict[str, float]:
    return {
        "cpu_seconds": float(usage.get("cpu_s") or 0.0),
        "memory_mb": float(usage.get("peak_rss_mb") or 0.0),
        "wall_seconds": float(usage.get("wall_s") or 0.0),
    }


def settle(reservation_id: int | None, usages: Iterable[Mapping[str, Any]]) -> int | None:
    """Charge the measured usage of the runs (each priced as one run); returns the charge.

    Idempotent: settling a closed reservation returns what it was charged.
    """
    reservation = _reservation(reservation_id)
    if reservation is None:
        return None
    from billing.services import job_cost
    from billing.services import settle as settle_credits

    pricing = reservation.pricing or {}
    total = sum(
        job_cost(
            _usage(usage),
            int(pricing.get("discount_bps", 0)),
            pricing.get("model_size_class", "small"),
            bool(pricing.get("premium", False)),
        )
        for usage in usages
    )
    return settle_credits(reservation, int(total)).charged


def release(reservation_id: int | None) -> None:
    reservation = _reservation(reservation_id)
    if reservation is not None:
        from billing.services import release_job

        release_job(reservation)


def license_paying_for(user: User, version: PackageVersion) -> int | None:
    """The license whose run quota pays for ``user``'s job on ``version``, if one applies."""
    package = version.package
    if package.owner_id == user.pk or package.is_free or is_moderator(user):
        return None
    from licensing.entitlements import run_entitlement

    entitlement = run_entitlement(user, version)
    if entitlement is None or entitlement.runs_remaining is None:
        return None
    return entitlement.license_id


def take_license_run(license_id: int, reference: str) -> None:
    """One run off the quota (402 ``run_quota_exhausted`` when none is left); idempotent."""
    from licensing.entitlements import consume_run

    consume_run(license_id, reference)


def give_back_license_run(license_id: int | None, reference: str) -> None:
    if license_id is not None:
        from licensing.entitlements import refund_run

        refund_run(license_id, reference)


def spent_license_quota(user: User | AnonymousUser, version: PackageVersion) -> bool:
    """Whether the user holds a license for the package whose run quota is used up (so the
    refusal is "no runs left", 402, rather than "not allowed", 403)."""
    from licensing.models import License

    return (
        License.objects.usable()
        .held_by(user)
        .filter(package_id=version.package_id, runs_remaining=0)
        .exists()
    )
