"""Creators: apply, moderator review, and the checks other verbs use."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Creator, User, is_moderator
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError, ForbiddenError

RESERVED_SLUGS = frozenset({"me", "apply", "new", "admin"})


def _snapshot(creator: Creator) -> dict[str, Any]:
    return {"status": creator.status, "slug": creator.slug, "display_name": creator.display_name}


def creator_of(user: User | AnonymousUser) -> Creator | None:
    if not user.is_authenticated:
        return None
    try:
        return user.creator
    except Creator.DoesNotExist:
        return None


def is_creator(user: User | AnonymousUser) -> bool:
    """An approved creator (may manage listings and sell)."""
    creator = creator_of(user)
    return creator is not None and creator.is_approved


def require_creator(user: User | AnonymousUser) -> Creator:
    creator = creator_of(user)
    if creator is None or not creator.is_approved:
        raise ForbiddenError(
            "Only approved creators can do this; apply at /api/v1/creators/apply.",
            code="not_a_creator",
        )
    return creator


@transaction.atomic
def apply_as_creator(
    user: User,
    *,
    display_name: str,
    slug: str,
    support_email: str,
    bio: str = "",
    website: str = "",
) -> Creator:
    """Create (or, after a rejection, resubmit) ``user``'s creator application as pending."""
    if slug in RESERVED_SLUGS:
        raise DomainError(
            "This slug is reserved.",
            code="slug_reserved",
            fields={"slug": [{"code": "slug_reserved", "detail": "This slug is reserved."}]},
        )
    existing = Creator.objects.select_for_update().filter(user=user).first()
    if existing is not None and existing.status != Creator.Status.REJECTED:
        raise ConflictError(
            f"You already have a creator profile ({existing.get_status_display().lower()}).",
            code="already_applied",
        )
    creator = existing or Creator(user=user)
    before = _snapshot(creator) if existing else None
    creator.display_name = display_name
    creator.slug = slug
    creator.bio = bio
    creator.website = website
    creator.support_email = support_email
    creator.status = Creator.Status.PENDING
    creator.applied_at = timezone.now()
    creator.review_note = ""
    try:
        with transaction.atomic():
            creator.save()
    except IntegrityError as exc:
        raise ConflictError(
            "This slug is taken.",
            code="slug_taken",
            fields={"slug": [{"code": "slug_taken", "detail": "This slug is taken."}]},
        ) from exc
    record(
        "marketplace.creator.applied",
        actor=user,
        target=creator,
        before=before,
        after=_snapshot(creator),
    )
    return creator


def _review(creator: Creator, actor: User, status: str, note: str, action: str) -> Creator:
    if not is_moderator(actor):
        raise ForbiddenError("Only moderators review creators.")
    creator = Creator.objects.select_for_update().get(pk=creator.pk)
    before = _snapshot(creator)
    creator.status = status
    creator.review_note = note
    creator.reviewed_at = timezone.now()
    creator.reviewed_by = actor
    creator.save(
        update_fields=["status", "review_note", "reviewed_at", "reviewed_by", "updated_at"]
    )
    record(
        action,
        actor=actor,
        target=creator,
        before=before,
        after={**_snapshot(creator), "note": note},
    )
    return creator


@transaction.atomic
def approve_creator(creator: Creator, actor: User, note: str = "") -> Creator:
    if creator.status == Creator.Status.APPROVED:
        return creator
    return _review(creator, actor, Creator.Status.APPROVED, note, "marketplace.creator.approved")


@transaction.atomic
def reject_creator(creator: Creator, actor: User, note: str = "") -> Creator:
    return _review(creator, actor, Creator.Status.REJECTED, note, "marketplace.creator.rejected")


@transaction.atomic
def suspend_creator(creator: Creator, actor: User, note: str = "") -> Creator:
    return _review(creator, actor, Creator.Status.SUSPENDED, note, "marketplace.creator.suspended")
