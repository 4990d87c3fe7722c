"""Registry verbs: create packages, receive versions, move them through review.

Views, admin actions, management commands and tasks all call these functions; they check
permissions that depend on the object, write the audit log and keep storage and database in
step (a rejected upload leaves no file and no row).
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User, is_moderator
from fmugateway.core import storage as artifact_storage
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError, ForbiddenError
from registry import inspection as fmu_inspection
from registry import scan as fmu_scan
from registry import vectors
from registry.access import listing_hold
from registry.description_reader import Variable as CardVariable
from registry.models import Package, PackageVersion, TestVector, Variable
from registry.signals import package_status_changed

logger = logging.getLogger(__name__)

VARIABLE_BATCH = 2000

# Semantic Versioning 2.0.0 (https://semver.org), as creators are asked to use it.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


class InspectionRejected(DomainError):
    status_code = 422


def require_owner(package: Package, user: User | AnonymousUser) -> None:
    """The creator API and console act for the package's owner only. Moderators act through
    the admin's moderation actions (approve, reject, revalidate, takedowns), audited as such."""
    if package.owner_id != getattr(user, "pk", None):
        raise ForbiddenError("Only the package's creator can change it.", code="not_package_owner")


def unique_slug(name: str) -> str:
    base = slugify(name)[:90] or "package"
    slug, n = base, 2
    while Package.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def create_package(owner: User, *, name: str, slug: str | None = None, **fields: Any) -> Package:
    """Create a draft package owned by ``owner``; the slug defaults to one made from the name."""
    slug = slug or unique_slug(name)
    if Package.objects.filter(slug=slug).exists():
        raise ConflictError(
            f"The slug {slug!r} is taken.",
            code="slug_taken",
            fields={"slug": [{"code": "unique", "detail": "Already taken."}]},
        )
    package = Package.objects.create(owner=owner, name=name, slug=slug, **fields)
    record("registry.package.created", actor=owner, target=package, after={"slug": slug})
    return package


EDITABLE_PACKAGE_FIELDS = {
    "name",
    "summary",
    "description",
    "category",
    "tags",
    "license_text",
    "is_free",
}


@transaction.atomic
def update_package(package: Package, user: User, **changes: Any) -> Package:
    """Change the package's descriptive fields (its owner only)."""
    require_owner(package, user)
    changes = {key: value for key, value in changes.items() if key in EDITABLE_PACKAGE_FIELDS}
    before = {key: getattr(package, key) for key in changes}
    for key, value in changes.items():
        setattr(package, key, value)
    package.save()
    record("registry.package.updated", actor=user, target=package, before=before, after=changes)
    return package


@dataclass(frozen=True)
class ReceivedFile:
    path: Path
    sha256: str | None
    size: int
    original_filename: str = ""


@dataclass(frozen=True)
class TestVectorInput:
    """A creator's test vector as received: reference CSV (+ optional inputs CSV) and tolerance."""

    reference_path: Path
    inputs_path: Path | None = None
    start_values: dict[str, Any] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    rtol: float = vectors.DEFAULT_RTOL
    atol: float = vectors.DEFAULT_ATOL
    fmi_type: str = ""
    name: str = "default"


def _check_test_vector(vector: TestVectorInput, card: fmu_inspection.FmuInspection) -> None:
    def bad(detail: str, code: str = "invalid_test_vector") -> DomainError:
        return DomainError(detail, code=code)

    try:
        reference = vectors.read_reference_csv(vector.reference_path)
        if vector.inputs_path is not None:
            vectors.read_reference_csv(vector.inputs_path)
        vectors.Tolerance(rtol=vector.rtol, atol=vector.atol)
    except vectors.ReferenceFormatError as exc:
        raise bad(f"Test vector {vector.name!r}: {exc}") from exc
    columns = vector.columns or tuple((reference.dtype.names or ())[1:])
    # One pass over the (possibly very long, spooled) variable table.
    missing = set(columns) | set(vector.start_values)
    for variable in card.variables:
        missing.discard(variable.name)
        if not missing:
            break
    unknown = sorted(set(columns) & missing)
    if unknown:
        raise bad(f"Test vector columns are not variables of the model: {', '.join(unknown)}.")
    unknown_starts = sorted(set(vector.start_values) & missing)
    if unknown_starts:
        raise bad(f"Start values name unknown variables: {', '.join(unknown_starts)}.")


def inspection_limits() -> fmu_inspection.InspectionLimits:
    """The upload inspection's limits, with the ones the settings control."""
    return fmu_inspection.InspectionLimits(
        max_total_uncompressed=settings.UPLOAD_MAX_EXPANDED_BYTES
    )


def upload_version(
    package: Package,
    *,
    uploaded_by: User,
    upload: ReceivedFile,
    version: str,
    changelog: str = "",
    test_vectors: tuple[TestVectorInput, ...] = (),
) -> PackageVersion:
    """Inspect, scan and store an FMU as a new version of ``package``.

    Guarantees: the upload is inspected before anything is stored; an upload that fails
    inspection, repeats a version number or repeats a file of this package raises a
    ``DomainError`` with a stable code and leaves no stored file and no row; a stored file
    whose row cannot be written is removed again.
    """
    require_owner(package, uploaded_by)
    if not SEMVER.match(version or ""):
        raise DomainError(
            "Use a semantic version such as 1.0.0 or 2.1.0-beta.1.",
            code="invalid_version",
            fields={"version": [{"code": "invalid_version", "detail": "Not a semantic version."}]},
        )
    if package.versions.filter(version=version).exists():
        raise ConflictError(f"Version {version} already exists.", code="version_exists")
    try:
        card = fmu_inspection.inspect_fmu(upload.path, inspection_limits(), sha256=upload.sha256)
    except fmu_inspection.InspectionError as exc:
        raise InspectionRejected(exc.detail, code=exc.code) from exc
    if package.versions.filter(sha256=card.sha256).exists():
        raise ConflictError(
            "This exact file was already uploaded to this package.", code="duplicate_file"
        )
    for vector in test_vectors:
        _check_test_vector(vector, card)
    report = fmu_scan.scan_fmu(upload.path, card)

    stored_keys: list[str] = []

    def store(key: str, path: Path) -> str:
        # Encrypted at rest, as everything in the artifacts storage (core.storage).
        stored_keys.append(artifact_storage.save_encrypted("artifacts", key, path))
        return stored_keys[-1]

    try:
        stored_key = store(f"packages/{package.pk}/{card.sha256}.fmu", upload.path)
        with transaction.atomic():
            version_row = _create_version_row(
                package, uploaded_by, version, changelog, upload, card, report, stored_key
            )
            for vector in test_vectors:
                prefix = f"packages/{package.pk}/{card.sha256}/vectors/{vector.name}"
                TestVector.objects.create(
                    version=version_row,
                    name=vector.name,
                    reference_key=store(f"{prefix}-reference.csv", vector.reference_path),
                    inputs_key=store(f"{prefix}-inputs.csv", vector.inputs_path)
                    if vector.inputs_path
                    else "",
                    start_values=vector.start_values,
                    columns=list(vector.columns),
                    rtol=vector.rtol,
                    atol=vector.atol,
                    fmi_type=vector.fmi_type,
                )
            record(
                "registry.version.uploaded",
                actor=uploaded_by,
                target=version_row,
                after={"sha256": card.sha256, "size": card.size, "version": version},
            )
    except IntegrityError as exc:
        _delete_all(stored_keys)
        raise ConflictError(
            "This version or file was uploaded at the same moment by another request.",
            code="version_exists",
        ) from exc
    except BaseException:
        _delete_all(stored_keys)
        raise
    from registry.validation import queue_validation

    queue_validation(version_row, requested_by=uploaded_by)
    return version_row


def _delete_all(keys: list[str]) -> None:
    for key in keys:
        try:
            artifact_storage.delete("artifacts", key)
        except OSError:
            logger.exception("Could not delete %s after a failed upload", key)


def _create_version_row(
    package: Package,
    user: User,
    version: str,
    changelog: str,
    upload: ReceivedFile,
    card: fmu_inspection.FmuInspection,
    report: fmu_scan.ScanReport,
    key: str,
) -> PackageVersion:
    kinds = {interface.kind for interface in card.interfaces}
    experiment = card.default_experiment
    card_dict = card.to_dict()
    card_dict.pop("entries", None)  # can be thousands of rows; the count is enough
    card_dict["number_of_entries"] = len(card.entries)
    row = PackageVersion.objects.create(
        package=package,
        version=version,
        changelog=changelog,
        uploaded_by=user,
        artifact_key=key,
        sha256=card.sha256,
        size=card.size,
        original_filename=upload.original_filename[:255],
        fmi_version=card.fmi_version,
        model_name=card.model_name[:255],
        instantiation_token=(card.instantiation_token or "")[:255],
        generation_tool=(card.generation_tool or "")[:255],
        generation_date=(card.generation_date or "")[:64],
        model_description=card.description or "",
        supports_model_exchange="ModelExchange" in kinds,
        supports_co_simulation="CoSimulation" in kinds,
        supports_scheduled_execution="ScheduledExecution" in kinds,
        platforms=[platform.name for platform in card.platforms],
        has_sources=card.has_sources,
        default_experiment={
            "start_time": experiment.start_time,
            "stop_time": experiment.stop_time,
            "tolerance": experiment.tolerance,
            "step_size": experiment.step_size,
        }
        if experiment
        else {},
        model_description_sha256=card.model_description_sha256,
        inspection=card_dict,
        scan_report=report.to_dict(),
        risk_score=report.risk_score,
    )
    _insert_variables(row, card.variables)
    return row


_VARIABLE_COLUMNS = (
    "name",
    "value_reference",
    "causality",
    "variability",
    "initial",
    "type",
    "unit",
    "start",
    "min",
    "max",
    "nominal",
    "description",
)


def _variable_values(variable: CardVariable) -> tuple[str | int, ...]:
    return (
        variable.name[:500],
        variable.value_reference or 0,
        variable.causality or "",
        variable.variability or "",
        variable.initial or "",
        variable.type or "",
        (variable.unit or "")[:100],
        (variable.start or "")[:255],
        (variable.min or "")[:64],
        (variable.max or "")[:64],
        (variable.nominal or "")[:64],
        variable.description or "",
    )


def _insert_variables(version: PackageVersion, variables: Iterable[CardVariable]) -> None:
    """Write the model card's variable table. A model may have 100,000 variables: they are
    streamed from the inspection's spool, never all in memory, and PostgreSQL takes them in
    one COPY (bulk INSERTs of model instances took ~10 s for 100,000)."""
    if connection.vendor == "postgresql":
        table = Variable._meta.db_table
        columns = ", ".join(("version_id", *_VARIABLE_COLUMNS))
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for variable in variables:
                copy.write_row((version.pk, *_variable_values(variable)))
        return
    rows = (
        Variable(version=version, **dict(zip(_VARIABLE_COLUMNS, _variable_values(v), strict=True)))
        for v in variables
    )
    while batch := list(itertools.islice(rows, VARIABLE_BATCH)):
        Variable.objects.bulk_create(batch)


# --- review lifecycle --------------------------------------------------------------------


def _transition(package: Package, allowed: set[str], new: str, **changes: Any) -> None:
    updated = Package.objects.filter(pk=package.pk, status__in=allowed).update(
        status=new, updated_at=timezone.now(), **changes
    )
    if not updated:
        raise ConflictError(
            f"The package is {package.get_status_display().lower()}; that is not possible now.",
            code="invalid_status",
        )
    package.refresh_from_db()
    package_status_changed.send(sender=Package, package=package)


def submit_for_review(package: Package, user: User) -> Package:
    require_owner(package, user)
    if not package.versions.exists():
        raise DomainError("Upload at least one version before submitting.", code="no_versions")
    if (held := listing_hold(package)) is not None:
        raise held
    before = package.status
    _transition(
        package,
        {Package.Status.DRAFT, Package.Status.REJECTED, Package.Status.UNLISTED},
        Package.Status.IN_REVIEW,
        submitted_at=timezone.now(),
    )
    record(
        "registry.package.submitted",
        actor=user,
        target=package,
        before={"status": before},
        after={"status": package.status},
    )
    return package


def approve_package(package: Package, moderator: User, note: str = "") -> Package:
    if not is_moderator(moderator):
        raise ForbiddenError("Only moderators can approve packages.")
    if (held := listing_hold(package)) is not None:
        raise held
    before = package.status
    _transition(
        package,
        {Package.Status.IN_REVIEW, Package.Status.REJECTED},
        Package.Status.LISTED,
        listed_at=timezone.now(),
        review_note=note,
    )
    record(
        "registry.package.approved",
        actor=moderator,
        target=package,
        before={"status": before},
        after={"status": package.status, "note": note},
    )
    return package


def reject_package(package: Package, moderator: User, reason: str) -> Package:
    if not is_moderator(moderator):
        raise ForbiddenError("Only moderators can reject packages.")
    if not reason.strip():
        raise DomainError(
            "Say why the package is rejected; the creator sees it.", code="reason_required"
        )
    before = package.status
    _transition(package, {Package.Status.IN_REVIEW}, Package.Status.REJECTED, review_note=reason)
    record(
        "registry.package.rejected",
        actor=moderator,
        target=package,
        before={"status": before},
        after={"status": package.status, "reason": reason},
    )
    return package


def _mark_version(
    version: PackageVersion, user: User, reason: str, *, at: str, why: str, action: str
) -> PackageVersion:
    require_owner(version.package, user)
    if not reason.strip():
        raise DomainError("Give a reason; buyers see it.", code="reason_required")
    setattr(version, at, timezone.now())
    setattr(version, why, reason)
    version.save(update_fields=[at, why, "updated_at"])
    record(action, actor=user, target=version, after={"reason": reason})
    return version


def yank_version(version: PackageVersion, user: User, reason: str) -> PackageVersion:
    """Hide a version from new buyers (kept for existing licensees), e.g. for a serious bug."""
    return _mark_version(
        version, user, reason, at="yanked_at", why="yank_reason", action="registry.version.yanked"
    )


def deprecate_version(version: PackageVersion, user: User, reason: str) -> PackageVersion:
    """Mark a version as superseded; it stays available but is labelled as such."""
    return _mark_version(
        version,
        user,
        reason,
        at="deprecated_at",
        why="deprecation_reason",
        action="registry.version.deprecated",
    )
