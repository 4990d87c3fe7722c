"""Seats: the named users of a seat license.

A seat license (``kind="seat"``) has ``License.seats`` named users, **its owner included**: the
owner always holds the first seat (they bought it and keep its key), so they can assign
``seats - 1`` others by email. An assigned user gets the license's entitlements (runs, and
downloads when the SKU grants them) through ``LicenseQuerySet.held_by``, never its key. An email
without a verified account gets a pending invitation that takes a seat at once and is bound to
the account when that address is verified. Removing a seat ends its access with the commit.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation, User
from accounts.services.organisations import clean_email, require_admin
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, NotFoundError
from licensing.models import License, LicenseKind, SeatAssignment


def seats_used(license: License) -> int:
    """Seats taken: the owner's plus every active assignment, pending invitations included."""
    return 1 + SeatAssignment.objects.active().filter(license=license).count()


def _require_seat_license(license: License) -> None:
    if license.kind != LicenseKind.SEAT:
        raise ConflictError("Only seat licenses have named users.", code="not_a_seat_license")


@transaction.atomic
def assign_seat(license: License, email: str | None, *, actor: User) -> SeatAssignment:
    """Give one seat of ``license`` to the user with ``email`` (or invite that address).

    Guarantees: the license row is locked while seats are counted and the assignment inserted,
    so concurrent assignments never exceed ``license.seats`` (409 ``no_seats_left``); the license
    must be a usable seat license (409 ``not_a_seat_license`` / ``license_<status>``); the owner
    already holds a seat (409 ``owner_holds_seat``); one active seat per address (409
    ``seat_already_assigned``). Audited as ``marketplace.license.seat_assigned``.
    """
    email = clean_email(email)
    license = (
        License.objects.select_for_update(of=("self",))
        .select_related("owner", "package")
        .get(pk=license.pk)
    )
    _require_seat_license(license)
    status = license.effective_status()
    if status != License.Status.ACTIVE:
        raise ConflictError(f"This license is {status}.", code=f"license_{status}")
    if license.owner.email.lower() == email:
        raise ConflictError("The license's owner always holds a seat.", code="owner_holds_seat")
    if SeatAssignment.objects.active().filter(license=license, email=email).exists():
        raise ConflictError(
            "This address already holds a seat on this license.", code="seat_already_assigned"
        )
    if seats_used(license) >= (license.seats or 1):
        raise ConflictError(
            f"All {license.seats} seats of this license are taken (the owner's included).",
            code="no_seats_left",
        )
    user = get_user_model().objects.filter(email__iexact=email, is_active=True).first()
    now = timezone.now()
    try:
        with transaction.atomic():
            seat = SeatAssignment.objects.create(
                license=license,
                user=user,
                email=email,
                assigned_by=actor,
                bound_at=now if user else None,
            )
    except IntegrityError:  # the partial unique index; the row lock makes this unlikely
        raise ConflictError(
            "This address already holds a seat on this license.", code="seat_already_assigned"
        ) from None
    record(
        "marketplace.license.seat_assigned",
        actor=actor,
        target=license,
        after={"seat": seat.pk, "email": email, "pending": user is None},
    )
    _tell(seat, license, pending=user is None)
    return seat


def _tell(seat: SeatAssignment, license: License, *, pending: bool) -> None:
    """Mail the new seat holder (after the commit, so a rolled-back seat sends nothing)."""
    giver = license.owner.get_full_name()
    package = license.package.name
    if pending:
        body = (
            f"{giver} gave you a seat on their license for {package} on FMU Gateway.\n\n"
            f"Sign up with this address ({seat.email}) at {settings.SITE_URL}{reverse('signup')} "
            "and "
            "confirm it; the seat is yours from then on.\n"
        )
    else:
        body = (
            f"{giver} gave you a seat on their license for {package} on FMU Gateway.\n\n"
            f"It is under My licenses: {settings.SITE_URL}{reverse('account-licenses')}\n"
        )
    subject = f"A seat on {package}"
    transaction.on_commit(lambda: send_mail(subject, body, None, [seat.email]))


@transaction.atomic
def remove_seat(license: License, seat_id: int, *, actor: User) -> SeatAssignment:
    """Take a seat back: its user loses the license's entitlements with this commit.

    404 ``not_found`` for a seat that is not an active seat of this license. Allowed on a
    license in any state. Audited as ``marketplace.license.seat_removed``."""
    license = License.objects.select_for_update().get(pk=license.pk)
    seat = SeatAssignment.objects.active().filter(license=license, pk=seat_id).first()
    if seat is None:
        raise NotFoundError("No active seat with this id on this license.")
    seat.removed_at = timezone.now()
    seat.save(update_fields=["removed_at", "updated_at"])
    record(
        "marketplace.license.seat_removed",
        actor=actor,
        target=license,
        before={"seat": seat.pk, "email": seat.email, "user": seat.user_id},
    )
    return seat


@transaction.atomic
def bind_pending_seats(user: User) -> int:
    """Hand the invitations waiting for ``user``'s (now verified) address to that account."""
    if not user.is_active:
        return 0
    pending = list(
        SeatAssignment.objects.active()
        .select_for_update()
        .filter(user__isnull=True, email=user.email.lower())
    )
    now = timezone.now()
    for seat in pending:
        seat.user = user
        seat.bound_at = now
        seat.save(update_fields=["user", "bound_at", "updated_at"])
        record(
            "marketplace.license.seat_bound",
            actor=user,
            target=seat.license,
            after={"seat": seat.pk, "email": seat.email, "user": user.pk},
        )
    return len(pending)


@transaction.atomic
def attach_license(license: License, organisation: Organisation, *, actor: User) -> License:
    """Give an org license to an organisation its owner administers (once; attaching it to the
    same organisation again changes nothing). 409 ``not_an_org_license``,
    ``license_already_attached``, ``license_<status>``; 403 ``not_org_admin``."""
    license = License.objects.select_for_update().get(pk=license.pk)
    if license.kind != LicenseKind.ORG:
        raise ConflictError("Only org licenses belong to organisations.", code="not_an_org_license")
    require_admin(organisation, actor)
    if license.organisation_id == organisation.pk:
        return license
    if license.organisation_id is not None:
        raise ConflictError(
            "This license already belongs to another organisation.",
            code="license_already_attached",
        )
    status = license.effective_status()
    if status != License.Status.ACTIVE:
        raise ConflictError(f"This license is {status}.", code=f"license_{status}")
    license.organisation = organisation
    license.save(update_fields=["organisation", "updated_at"])
    record(
        "marketplace.license.organisation_attached",
        actor=actor,
        target=license,
        before={"organisation": None},
        after={"organisation": organisation.pk, "slug": organisation.slug},
    )
    return license
