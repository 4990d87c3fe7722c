"""DMCA takedowns: a complaint, a moderator's review, the package down, a counter-notice, the end.

    complaint = submit_complaint(data, user=None, ip="203.0.113.9")   # public form or API
    take_down(complaint, moderator)        # unlisted, downloads and runs refused, licenses
                                           # suspended, the creator emailed
    file_counter_notice(complaint.pk, creator_user, data)              # the creator's answer
    restore_package(complaint, moderator)  # or remove_package(...): the package stays down

Existing buyers while a package is down: their licenses are *suspended* (``licenses/verify``
answers ``SUSPENDED``; no downloads, no runs) and reinstated when the package is restored. A
removed package keeps them suspended; refunds stay a moderator's decision (Order → refund).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User, is_moderator
from compliance.models import CounterNotice, TakedownComplaint
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError, ForbiddenError, NotFoundError
from licensing.models import License
from licensing.services.licenses import reinstate_license, suspend_license
from registry.models import Package, PackageVersion

# Licenses suspended by a takedown carry this reason, so restoring reinstates only those.
SUSPENSION_REASON = "dmca_takedown"
BLOCKING = TakedownComplaint.BLOCKING_STATUSES  # removed is for good


class PackageTakenDown(DomainError):
    status_code = 451
    code = "package_taken_down"
    detail = "This model is unavailable following a copyright (DMCA) complaint."


def _held_down(package_id: int) -> bool:
    return TakedownComplaint.objects.filter(package_id=package_id, status__in=BLOCKING).exists()


def takedown_in_force(package: Package) -> TakedownComplaint | None:
    """The complaint that holds ``package`` down (the latest acted on), or ``None``."""
    return (
        TakedownComplaint.objects.filter(package=package, status__in=BLOCKING)
        .order_by("-reviewed_at", "-id")
        .first()
    )


def takedown_block(user: object, version: PackageVersion) -> DomainError | None:
    """The block rule registered with registry (downloads) and execution (runs); they never ask
    it for the owner or moderators."""
    return PackageTakenDown() if _held_down(version.package_id) else None


def takedown_hold(package: Package) -> DomainError | None:
    """The listing hold registered with registry: a package that is down cannot be resubmitted
    or approved around the takedown; only a moderator's restore lists it again."""
    if _held_down(package.pk):
        return ConflictError(
            "This model is down following a copyright (DMCA) complaint; it is listed again only "
            "when a moderator restores it (file a counter-notice to ask for that).",
            code="package_taken_down",
        )
    return None


# --- input ------------------------------------------------------------------------------------

COMPLAINT_FIELDS = {
    "complainant_name": 200,
    "complainant_email": 254,
    "work_description": 10000,
    "infringement_details": 10000,
    "signature": 200,
}
COUNTER_FIELDS = {
    "full_name": 200,
    "contact_email": 254,
    "address": 2000,
    "statement": 10000,
    "signature": 200,
}


def _truthy(value: object) -> bool:
    return value is True or str(value).strip().lower() in {"true", "1", "yes", "on"}


def _clean(
    data: Mapping[str, object],
    fields: dict[str, int],
    statements: tuple[str, ...],
    optional: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Strings trimmed and bounded, emails valid, every sworn statement checked; one error with
    every problem in ``fields`` (400 ``invalid``)."""
    cleaned: dict[str, Any] = {}
    problems: dict[str, list[dict[str, str]]] = {}
    for name, limit in fields.items():
        value = data.get(name, "")
        value = value.strip() if isinstance(value, str) else ""
        if not value and name not in optional:
            problems[name] = [{"code": "required", "detail": "This field is required."}]
        elif len(value) > limit:
            problems[name] = [{"code": "max_length", "detail": f"At most {limit} characters."}]
        elif value and name.endswith("email"):
            try:
                validate_email(value)
            except ValidationError:
                problems[name] = [{"code": "invalid", "detail": "Enter a valid email address."}]
        cleaned[name] = value
    for name in statements:
        if not _truthy(data.get(name)):
            problems[name] = [{"code": "required", "detail": "This statement must be affirmed."}]
        cleaned[name] = True
    if problems:
        raise DomainError("Some fields need attention.", code="invalid", fields=problems)
    return cleaned


# --- the complaint ----------------------------------------------------------------------------


def submit_complaint(
    data: Mapping[str, object],
    *,
    user: User | AnonymousUser | None = None,
    ip: str | None = None,
) -> TakedownComplaint:
    """Record a DMCA complaint against a package anyone can see (by ``package`` slug).

    400 ``invalid`` names every missing field and unaffirmed statement; an unknown (or not
    public) package is a field error too, never a hint that it exists.
    """
    slug = data.get("package", "")
    slug = slug.strip() if isinstance(slug, str) else ""
    viewer = user if user is not None else AnonymousUser()  # no user: what anyone sees
    package = Package.objects.visible_to(viewer).filter(slug=slug).first() if slug else None
    try:
        cleaned = _clean(
            data,
            COMPLAINT_FIELDS,
            ("good_faith", "accurate"),
            optional=("infringement_details",),
        )
    except DomainError as exc:
        if package is None:
            exc.fields["package"] = [{"code": "not_found", "detail": "No such package."}]
        raise
    if package is None:
        raise DomainError(
            "Some fields need attention.",
            code="invalid",
            fields={"package": [{"code": "not_found", "detail": "No such package."}]},
        )
    complaint = TakedownComplaint.objects.create(
        package=package,
        submitted_by=viewer if viewer.is_authenticated else None,
        submitter_ip=ip,
        **cleaned,
    )
    record(
        "marketplace.takedown.submitted",
        actor=user,
        target=complaint,
        after={"package": package.slug, "complainant": complaint.complainant_email},
    )
    return complaint


def _require_moderator(user: User) -> None:
    if not is_moderator(user):
        raise ForbiddenError("Only moderators can decide DMCA complaints.")


def _claim(
    complaint: TakedownComplaint, allowed: Iterable[str], new: str, **changes: Any
) -> TakedownComplaint:
    """Move the complaint from one of ``allowed`` to ``new`` atomically (409 otherwise)."""
    now = timezone.now()
    claimed = TakedownComplaint.objects.filter(pk=complaint.pk, status__in=allowed).update(
        status=new, updated_at=now, **changes
    )
    complaint.refresh_from_db()
    if not claimed:
        raise ConflictError(
            f"This complaint is {complaint.get_status_display().lower()}.",
            code="takedown_invalid_status",
        )
    return complaint


def _notify(template: str, subject: str, recipient: str, complaint: TakedownComplaint) -> None:
    """Email after commit (a rolled-back decision sends nothing)."""
    body = render_to_string(
        f"compliance/email/{template}.txt",
        {
            "complaint": complaint,
            "package": complaint.package,
            "console_url": settings.SITE_URL + reverse("console-takedowns"),
        },
    )
    transaction.on_commit(lambda: send_mail(subject, body, None, [recipient]))


@transaction.atomic
def reject_complaint(complaint: TakedownComplaint, moderator: User, note: str) -> TakedownComplaint:
    """Decline a complaint (nothing happens to the package); the note says why."""
    _require_moderator(moderator)
    if not (note or "").strip():
        raise DomainError("Say why the complaint is rejected.", code="reason_required")
    complaint = _claim(
        complaint,
        [TakedownComplaint.Status.SUBMITTED],
        TakedownComplaint.Status.REJECTED,
        moderator_note=note.strip(),
        reviewed_by=moderator,
        reviewed_at=timezone.now(),
    )
    record(
        "marketplace.takedown.rejected",
        actor=moderator,
        target=complaint,
        before={"status": TakedownComplaint.Status.SUBMITTED},
        after={"status": complaint.status, "note": complaint.moderator_note},
    )
    return complaint


@transaction.atomic
def take_down(complaint: TakedownComplaint, moderator: User, note: str = "") -> TakedownComplaint:
    """Accept a complaint: the package is unlisted, its downloads and runs answer 451
    ``package_taken_down`` to everyone but its owner and moderators, its active licenses are
    suspended, and the creator is emailed. 409 unless the complaint is awaiting review."""
    _require_moderator(moderator)
    package = Package.objects.select_for_update().get(pk=complaint.package_id)
    # A package already down for another complaint returns to what it was before that one.
    earlier = (
        TakedownComplaint.objects.active()
        .filter(package=package)
        .exclude(pk=complaint.pk)
        .order_by("pk")
        .first()
    )
    status_before = earlier.package_status_before if earlier else package.status
    complaint = _claim(
        complaint,
        [TakedownComplaint.Status.SUBMITTED],
        TakedownComplaint.Status.TAKEN_DOWN,
        moderator_note=(note or "").strip(),
        reviewed_by=moderator,
        reviewed_at=timezone.now(),
        package_status_before=status_before,
    )
    if package.status != Package.Status.UNLISTED:
        package.status = Package.Status.UNLISTED
        package.save(update_fields=["status", "updated_at"])  # signals reindex the catalog
    suspended = 0
    for license in License.objects.filter(package=package, status=License.Status.ACTIVE):
        suspend_license(license, actor=moderator, reason=SUSPENSION_REASON)
        suspended += 1
    record(
        "marketplace.takedown.taken_down",
        actor=moderator,
        target=complaint,
        before={"status": TakedownComplaint.Status.SUBMITTED, "package_status": status_before},
        after={
            "status": complaint.status,
            "package_status": package.status,
            "licenses_suspended": suspended,
        },
    )
    _notify(
        "takedown_notice",
        f"Copyright complaint: {package.name} has been taken down",
        package.owner.email,
        complaint,
    )
    return complaint


@transaction.atomic
def file_counter_notice(complaint_id: int, user: User, data: Mapping[str, object]) -> CounterNotice:
    """The package owner's counter-notice to a complaint that took their package down.

    404 for anyone but the owner, and for the owner while the complaint is hidden from them (no
    moderator acted yet, or it was rejected); 409 ``takedown_invalid_status`` unless the
    package is down for this complaint and no counter-notice was filed; 400 ``invalid`` for
    missing fields or unaffirmed statements. The complainant gets a copy by email; the package
    stays down until a moderator decides.
    """
    complaint = (
        TakedownComplaint.objects.for_user(user)
        .select_for_update(of=("self",))
        .select_related("package")
        .filter(pk=complaint_id, package__owner_id=user.pk)
        .first()
    )
    if complaint is None:
        raise NotFoundError("No such complaint.")
    if complaint.status != TakedownComplaint.Status.TAKEN_DOWN:
        raise ConflictError(
            f"This complaint is {complaint.get_status_display().lower()}; a counter-notice is "
            "only possible while the package is taken down.",
            code="takedown_invalid_status",
        )
    cleaned = _clean(data, COUNTER_FIELDS, ("good_faith", "consent_to_jurisdiction"))
    notice = CounterNotice.objects.create(complaint=complaint, filed_by=user, **cleaned)
    complaint = _claim(
        complaint, [TakedownComplaint.Status.TAKEN_DOWN], TakedownComplaint.Status.COUNTER_NOTICE
    )
    record(
        "marketplace.takedown.counter_notice",
        actor=user,
        target=complaint,
        before={"status": TakedownComplaint.Status.TAKEN_DOWN},
        after={"status": complaint.status, "counter_notice": notice.pk},
    )
    _notify(
        "counter_notice",
        f"Counter-notice to your copyright complaint about {complaint.package.name}",
        complaint.complainant_email,
        complaint,
    )
    return notice


def _resolve(
    complaint: TakedownComplaint, moderator: User, note: str, new: str
) -> TakedownComplaint:
    """End an active takedown as ``new`` (409 ``takedown_invalid_status`` otherwise)."""
    return _claim(
        complaint,
        TakedownComplaint.ACTIVE_STATUSES,
        new,
        resolved_by=moderator,
        resolved_at=timezone.now(),
        moderator_note=(note or complaint.moderator_note).strip(),
    )


@transaction.atomic
def restore_package(
    complaint: TakedownComplaint, moderator: User, note: str = ""
) -> TakedownComplaint:
    """End a takedown in the creator's favour: unless another complaint keeps it down, the
    package returns to its earlier status and the licenses this takedown suspended are
    reinstated. The creator is emailed."""
    _require_moderator(moderator)
    package = Package.objects.select_for_update().get(pk=complaint.package_id)
    before = complaint.status
    complaint = _resolve(complaint, moderator, note, TakedownComplaint.Status.RESTORED)
    still_down = TakedownComplaint.objects.filter(package=package, status__in=BLOCKING).exists()
    reinstated = 0
    if not still_down:
        restored_status = complaint.package_status_before or Package.Status.LISTED
        if package.status != restored_status:
            package.status = restored_status
            package.save(update_fields=["status", "updated_at"])
        for license in License.objects.filter(
            package=package, status=License.Status.SUSPENDED, status_reason=SUSPENSION_REASON
        ):
            reinstate_license(license, actor=moderator, reason="dmca_restored")
            reinstated += 1
    record(
        "marketplace.takedown.restored",
        actor=moderator,
        target=complaint,
        before={"status": before},
        after={
            "status": complaint.status,
            "package_status": package.status,
            "licenses_reinstated": reinstated,
            "still_down": still_down,
        },
    )
    _notify(
        "takedown_resolved", f"{package.name} has been restored", package.owner.email, complaint
    )
    return complaint


@transaction.atomic
def remove_package(
    complaint: TakedownComplaint, moderator: User, note: str = ""
) -> TakedownComplaint:
    """End a takedown for good: the package stays unlisted, downloads and runs stay refused and
    its licenses stay suspended. The creator is emailed."""
    _require_moderator(moderator)
    before = complaint.status
    complaint = _resolve(complaint, moderator, note, TakedownComplaint.Status.REMOVED)
    record(
        "marketplace.takedown.removed",
        actor=moderator,
        target=complaint,
        before={"status": before},
        after={"status": complaint.status},
    )
    package = complaint.package
    _notify(
        "takedown_resolved",
        f"{package.name} has been removed after a copyright complaint",
        package.owner.email,
        complaint,
    )
    return complaint
