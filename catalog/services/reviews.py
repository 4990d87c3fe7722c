"""Reviews and ratings.

Rules: only people who bought the package (a license that was not taken back) or ran it (a
finished, successful job) may review it, never its creator; one review per user and package,
which its author may edit; one helpful/not-helpful vote per user and review (not on your own);
one abuse report per user and review; the package's creator answers publicly. Moderators move
reviews between ``published``, ``pending``, ``hidden`` and ``removed`` (a report marks it
``reported`` but leaves it up). The package's rating summary is recomputed from the visible
reviews, under a lock of its catalog row, whenever any of that changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import User, is_moderator
from catalog.models import PackageSearch, Review, ReviewReport, ReviewVote
from catalog.services import search
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError, ForbiddenError, NotFoundError
from licensing.models import License
from registry.models import Package, PackageVersion


@dataclass(frozen=True)
class Eligibility:
    allowed: bool
    verified_purchase: bool = False
    ran_model: bool = False
    reason: str = ""


def _purchased(user: User, package: Package) -> bool:
    # Any license of the package that was not revoked (refunds and chargebacks revoke).
    return (
        License.objects.filter(owner=user, package=package)
        .exclude(status=License.Status.REVOKED)
        .exists()
    )


def _ran(user: User, package: Package) -> bool:
    # Read through the app registry: execution depends on the marketplace, not the reverse.
    job_model = apps.get_model("execution", "SimulationJob")
    return job_model.objects.filter(
        owner=user, version__package=package, status="succeeded"
    ).exists()


def eligibility(user: User | AnonymousUser, package: Package) -> Eligibility:
    """May ``user`` review ``package``, and on what grounds."""
    if not user.is_authenticated:
        return Eligibility(False, reason="Log in to review this model.")
    if package.owner_id == user.pk:
        return Eligibility(False, reason="You cannot review your own model.")
    purchased = _purchased(user, package)
    ran = _ran(user, package)
    if not (purchased or ran):
        return Eligibility(False, reason="Only people who bought or ran this model can review it.")
    return Eligibility(True, verified_purchase=purchased, ran_model=ran)


def _snapshot(review: Review) -> dict[str, Any]:
    return {"status": review.status, "rating": review.rating, "title": review.title}


def _clean_text(value: str, limit: int) -> str:
    return (value or "").strip()[:limit]


@transaction.atomic
def submit_review(
    user: User,
    package: Package,
    *,
    rating: int,
    title: str,
    body: str = "",
    pros: str = "",
    cons: str = "",
) -> Review:
    """Write or edit ``user``'s review of ``package``.

    Guarantees: refused (403 ``review_not_allowed``) without a purchase or a run, and for the
    package's creator; one review per user and package (a second submission edits the first;
    a concurrent duplicate is turned into an edit by the unique constraint); an edit keeps the
    moderation status (a hidden review stays hidden); the rating summary is recomputed.
    """
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise DomainError(
            "Give a rating from 1 to 5 stars.",
            code="invalid_rating",
            fields={"rating": [{"code": "invalid", "detail": "1 to 5."}]},
        )
    title = _clean_text(title, 200)
    if not title:
        raise DomainError(
            "Give your review a title.",
            code="title_required",
            fields={"title": [{"code": "required", "detail": "Required."}]},
        )
    allowed = eligibility(user, package)
    if not allowed.allowed:
        raise ForbiddenError(allowed.reason, code="review_not_allowed")
    version = (
        PackageVersion.objects.published()
        .filter(package=package)
        .order_by("-created_at")
        .only("pk")
        .first()
    )
    fields = {
        "rating": rating,
        "title": title,
        "body": _clean_text(body, 10000),
        "pros": _clean_text(pros, 2000),
        "cons": _clean_text(cons, 2000),
        "verified_purchase": allowed.verified_purchase,
        "ran_model": allowed.ran_model,
    }
    review = Review.objects.select_for_update().filter(package=package, author=user).first()
    if review is None:
        try:
            with transaction.atomic():
                review = Review.objects.create(
                    package=package, author=user, version=version, **fields
                )
        except IntegrityError:
            review = Review.objects.select_for_update().get(package=package, author=user)
        else:
            record("marketplace.review.created", actor=user, target=review, after=fields)
            recompute_rating(package.pk)
            return review
    before = _snapshot(review)
    for name, value in fields.items():
        setattr(review, name, value)
    review.version = version or review.version
    review.edited_at = timezone.now()
    review.save()
    record("marketplace.review.edited", actor=user, target=review, before=before, after=fields)
    recompute_rating(package.pk)
    return review


def _visible_review(review_id: int) -> Review:
    review = (
        Review.objects.visible()
        .filter(pk=review_id, package__status=Package.Status.LISTED)
        .select_related("package")
        .first()
    )
    if review is None:
        raise NotFoundError("No such review.", code="review_not_found")
    return review


@transaction.atomic
def vote(user: User, review_id: int, *, helpful: bool) -> Review:
    """Vote a visible review helpful or not, once (409 ``already_voted``); not your own."""
    review = _visible_review(review_id)
    if review.author_id == user.pk:
        raise ForbiddenError("You cannot vote on your own review.", code="own_review")
    try:
        with transaction.atomic():
            ReviewVote.objects.create(review=review, user=user, helpful=helpful)
    except IntegrityError:
        raise ConflictError(
            "You have already voted on this review.", code="already_voted"
        ) from None
    counts = dict(
        ReviewVote.objects.filter(review=review)
        .values_list("helpful")
        .annotate(n=Count("pk"))
        .order_by()
    )
    Review.objects.filter(pk=review.pk).update(
        helpful_count=counts.get(True, 0), not_helpful_count=counts.get(False, 0)
    )
    review.refresh_from_db(fields=["helpful_count", "not_helpful_count"])
    return review


@transaction.atomic
def report(user: User, review_id: int, *, reason: str, details: str = "") -> ReviewReport:
    """Report a review to the moderators, once per user (409 ``already_reported``).

    A published review becomes ``reported`` and stays visible until a moderator decides."""
    if reason not in ReviewReport.Reason.values:
        raise DomainError("Choose a reason.", code="invalid_reason")
    review = _visible_review(review_id)
    try:
        with transaction.atomic():
            created = ReviewReport.objects.create(
                review=review, reporter=user, reason=reason, details=_clean_text(details, 2000)
            )
    except IntegrityError:
        raise ConflictError(
            "You have already reported this review.", code="already_reported"
        ) from None
    Review.objects.filter(pk=review.pk).update(
        report_count=ReviewReport.objects.filter(review=review).count()
    )
    Review.objects.filter(pk=review.pk, status=Review.Status.PUBLISHED).update(
        status=Review.Status.REPORTED
    )
    record("marketplace.review.reported", actor=user, target=review, after={"reason": reason})
    return created


@transaction.atomic
def respond(user: User, review_id: int, text: str) -> Review:
    """The package's creator answers a review publicly (empty text withdraws the answer)."""
    review = (
        Review.objects.select_for_update().select_related("package").filter(pk=review_id).first()
    )
    if review is None:
        raise NotFoundError("No such review.", code="review_not_found")
    if review.package.owner_id != user.pk:
        raise ForbiddenError(
            "Only the model's creator can answer its reviews.", code="not_package_owner"
        )
    text = _clean_text(text, 5000)
    review.creator_response = text
    review.creator_responded_at = timezone.now() if text else None
    review.save(update_fields=["creator_response", "creator_responded_at", "updated_at"])
    record("marketplace.review.responded", actor=user, target=review, after={"text": text})
    return review


@transaction.atomic
def moderate(review: Review, moderator: User, status: str, note: str = "") -> Review:
    """A moderator publishes, holds, hides or removes a review. Open reports are resolved
    (hidden/removed) or dismissed (published); the rating summary follows."""
    if not is_moderator(moderator):
        raise ForbiddenError("Only moderators can moderate reviews.")
    if status not in {
        Review.Status.PUBLISHED,
        Review.Status.PENDING,
        Review.Status.HIDDEN,
        Review.Status.REMOVED,
    }:
        raise DomainError(f"Unknown review status {status!r}.", code="invalid_status")
    review = Review.objects.select_for_update().get(pk=review.pk)
    before = _snapshot(review)
    review.status = status
    if note:
        review.moderation_note = note
    review.save(update_fields=["status", "moderation_note", "updated_at"])
    if status != Review.Status.PENDING:
        ReviewReport.objects.filter(review=review, status=ReviewReport.Status.OPEN).update(
            status=ReviewReport.Status.DISMISSED
            if status == Review.Status.PUBLISHED
            else ReviewReport.Status.RESOLVED,
            resolved_by=moderator,
            resolved_at=timezone.now(),
            resolution_note=note,
        )
    record(
        "marketplace.review.moderated",
        actor=moderator,
        target=review,
        before=before,
        after={**_snapshot(review), "note": note},
    )
    recompute_rating(review.package_id)
    return review


def recompute_rating(package_id: int) -> PackageSearch:
    """Recount the package's rating summary from its visible reviews.

    The catalog row is locked first, so concurrent reviews are each counted: the second waits,
    then counts with the first committed."""
    search.ensure_row(package_id)
    with transaction.atomic():
        row = PackageSearch.objects.select_for_update().get(pk=package_id)
        counts = dict(
            Review.objects.visible()
            .filter(package_id=package_id)
            .values_list("rating")
            .annotate(n=Count("pk"))
            .order_by()
        )
        total = sum(counts.values())
        for stars in range(1, 6):
            setattr(row, f"rating_{stars}", counts.get(stars, 0))
        row.rating_count = total
        row.rating_avg = (
            round(sum(stars * n for stars, n in counts.items()) / total, 2) if total else 0
        )
        row.save(
            update_fields=[
                "rating_count",
                "rating_avg",
                "rating_1",
                "rating_2",
                "rating_3",
                "rating_4",
                "rating_5",
            ]
        )
    return row
