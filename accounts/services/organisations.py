"""Organisations: teams whose members enjoy the org licenses attached to them.

An organisation has an owner (always an admin member, who cannot leave) and members with the
role ``admin`` or ``member``. Admins add members by email — an existing account at once, any
other address by an invitation that its owner takes by signing up and confirming it — and remove
members; anyone may leave. An org license's owner (the buyer) attaches it to an organisation they
administer; from then on its members get its entitlements through ``LicenseQuerySet.held_by``
— the first ``license.seats`` members by join order when the license has a seat cap — and lose
them the moment they leave. Every change is audited.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Membership, Organisation, OrganisationInvitation, User
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError, ForbiddenError, NotFoundError


def _invalid(field: str, detail: str) -> DomainError:
    return DomainError(
        detail, code="invalid", fields={field: [{"code": "invalid", "detail": detail}]}
    )


def _role(value: str | None) -> str:
    if not value:
        return Membership.Role.MEMBER
    if value not in Membership.Role.values:
        raise _invalid("role", "role must be admin or member.")
    return value


def is_admin(organisation: Organisation, user: User) -> bool:
    return Membership.objects.filter(
        organisation=organisation, user=user, role=Membership.Role.ADMIN
    ).exists()


def require_admin(organisation: Organisation, user: User) -> None:
    if not is_admin(organisation, user):
        raise ForbiddenError("Only the organisation's admins may do this.", code="not_org_admin")


@transaction.atomic
def create_organisation(owner: User, *, name: str, slug: str | None = None) -> Organisation:
    """A new organisation with ``owner`` as its first (admin) member. 409 ``slug_taken``."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 150:
        raise _invalid("name", "A name of 1 to 150 characters is required.")
    slug = slugify(slug if isinstance(slug, str) and slug else name)[:80]
    if not slug:
        raise _invalid("slug", "Enter a slug of letters, digits and dashes.")
    try:
        with transaction.atomic():
            organisation = Organisation.objects.create(name=name.strip(), slug=slug, owner=owner)
    except IntegrityError:
        raise ConflictError("This slug is taken.", code="slug_taken") from None
    Membership.objects.create(organisation=organisation, user=owner, role=Membership.Role.ADMIN)
    record(
        "marketplace.organisation.created",
        actor=owner,
        target=organisation,
        after={"name": organisation.name, "slug": slug},
    )
    return organisation


@transaction.atomic
def add_member(
    organisation: Organisation, email: str | None, *, role: str | None = None, actor: User
) -> Membership | OrganisationInvitation:
    """An admin adds a member by email: an existing account becomes a member at once; any other
    address gets an invitation (mailed) that makes its owner a member once they sign up and
    confirm it. 403 ``not_org_admin``, 409 ``already_member`` / ``already_invited``."""
    require_admin(organisation, actor)
    email = clean_email(email)
    role = _role(role)
    user = get_user_model().objects.filter(email__iexact=email, is_active=True).first()
    if user is None:
        return _invite(organisation, email, role, actor)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(organisation=organisation, user=user, role=role)
    except IntegrityError:
        raise ConflictError("This user is already a member.", code="already_member") from None
    record(
        "marketplace.organisation.member_added",
        actor=actor,
        target=organisation,
        after={"user": user.pk, "email": email, "role": role},
    )
    return membership


def _invite(
    organisation: Organisation, email: str, role: str, actor: User
) -> OrganisationInvitation:
    try:
        with transaction.atomic():
            invitation = OrganisationInvitation.objects.create(
                organisation=organisation, email=email, role=role, invited_by=actor
            )
    except IntegrityError:
        raise ConflictError("This address is already invited.", code="already_invited") from None
    record(
        "marketplace.organisation.member_invited",
        actor=actor,
        target=organisation,
        after={"invitation": invitation.pk, "email": email, "role": role},
    )
    body = (
        f"{actor.get_full_name()} invited you to join {organisation.name} on FMU Gateway, "
        "where its members share the organisation's model licenses.\n\n"
        f"Sign up with this address ({email}) at {settings.SITE_URL}{reverse('signup')} and "
        "confirm it; you are a member from then on.\n"
    )
    subject = f"Join {organisation.name} on FMU Gateway"
    transaction.on_commit(lambda: send_mail(subject, body, None, [email]))
    return invitation


@transaction.atomic
def cancel_invitation(
    organisation: Organisation, invitation_id: int, *, actor: User
) -> OrganisationInvitation:
    """An admin withdraws an open invitation (404 when there is none with this id)."""
    require_admin(organisation, actor)
    invitation = (
        OrganisationInvitation.objects.open()
        .select_for_update()
        .filter(organisation=organisation, pk=invitation_id)
        .first()
    )
    if invitation is None:
        raise NotFoundError("No open invitation with this id in this organisation.")
    invitation.cancelled_at = timezone.now()
    invitation.save(update_fields=["cancelled_at", "updated_at"])
    record(
        "marketplace.organisation.invitation_cancelled",
        actor=actor,
        target=organisation,
        before={"invitation": invitation.pk, "email": invitation.email},
    )
    return invitation


@transaction.atomic
def accept_invitations(user: User) -> int:
    """Make ``user`` (whose address was just confirmed) a member of every organisation that
    invited that address; returns how many memberships it gained."""
    if not user.is_active:
        return 0
    invitations = list(
        OrganisationInvitation.objects.open()
        .select_for_update()
        .filter(email=user.email.lower())
        .select_related("organisation")
    )
    now = timezone.now()
    joined = 0
    for invitation in invitations:
        _, created = Membership.objects.get_or_create(
            organisation=invitation.organisation, user=user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = now
        invitation.save(update_fields=["accepted_at", "updated_at"])
        joined += created
        record(
            "marketplace.organisation.member_added",
            actor=user,
            target=invitation.organisation,
            after={
                "user": user.pk,
                "email": invitation.email,
                "role": invitation.role,
                "invitation": invitation.pk,
            },
        )
    return joined


@transaction.atomic
def remove_member(organisation: Organisation, membership_id: int, *, actor: User) -> Membership:
    """An admin removes a member, or a member leaves (their own membership). The member loses
    the organisation's licenses with this commit. 409 ``owner_cannot_leave`` for the owner."""
    membership = (
        Membership.objects.select_related("user")
        .filter(organisation=organisation, pk=membership_id)
        .first()
    )
    if membership is None:
        raise NotFoundError("No member with this id in this organisation.")
    if membership.user_id != actor.pk:
        require_admin(organisation, actor)
    if membership.user_id == organisation.owner_id:
        raise ConflictError("The organisation's owner cannot leave it.", code="owner_cannot_leave")
    membership.delete()
    record(
        "marketplace.organisation.member_removed",
        actor=actor,
        target=organisation,
        before={
            "user": membership.user_id,
            "email": membership.user.email,
            "role": membership.role,
        },
    )
    return membership


def leave(organisation: Organisation, user: User) -> Membership:
    membership = Membership.objects.filter(organisation=organisation, user=user).first()
    if membership is None:
        raise NotFoundError("You are not a member of this organisation.")
    return remove_member(organisation, membership.pk, actor=user)


def _invalid_email(detail: str) -> DomainError:
    return DomainError(
        detail, code="invalid", fields={"email": [{"code": "invalid", "detail": detail}]}
    )


def clean_email(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid_email("An email address is required.")
    email = value.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise _invalid_email("Enter a valid email address.") from None
    return email
