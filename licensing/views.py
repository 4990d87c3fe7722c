from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.http import AuthenticatedHttpRequest
from accounts.models import Membership, Organisation
from accounts.services import organisations
from fmugateway.core.errors import DomainError
from fmugateway.core.views import keep_shown_once, take_shown_once
from licensing.models import Activation, License, LicenseKind, SeatAssignment
from licensing.services import seats
from licensing.services.licenses import claim_key, deactivate_activation, rotate_key


@login_required
def account_licenses(request: AuthenticatedHttpRequest) -> HttpResponse:
    licenses = (
        License.objects.owned_by(request.user)
        .select_related("package", "listing")
        .annotate(
            active_activations=Count(
                "activations", filter=Q(activations__deactivated_at__isnull=True)
            )
        )
        .order_by("-created_at", "-id")
    )
    page = Paginator(licenses, 25).get_page(request.GET.get("page"))
    # Licenses others share with you (a seat, or an organisation's license): what they entitle
    # you to, never their keys.
    seated = (
        License.objects.seated(request.user) | License.objects.via_organisations(request.user)
    ).select_related("package", "listing", "owner", "organisation")
    return render(request, "licensing/licenses.html", {"page": page, "seated": seated[:100]})


@login_required
def account_license(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    license = get_object_or_404(
        License.objects.owned_by(request.user).select_related("package", "listing", "order"),
        pk=pk,
    )
    # The new key crosses the redirect once (a refresh neither rotates again nor shows it).
    held = take_shown_once(request, f"license-key:{license.pk}")
    new_key = {"key": held} if isinstance(held, str) else None
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action in ("rotate", "claim"):
                verb = rotate_key if action == "rotate" else claim_key
                issued = verb(license, request.user)
                keep_shown_once(request, f"license-key:{license.pk}", issued.key)
                return redirect("account-license", pk=pk)
            elif action == "deactivate":
                deactivate_activation(license, int(request.POST.get("activation", 0)), request.user)
                messages.success(request, "The machine's activation is released.")
                return redirect("account-license", pk=pk)
            elif action == "assign_seat":
                seat = seats.assign_seat(license, request.POST.get("email"), actor=request.user)
                messages.success(
                    request,
                    f"Invitation for {seat.email} saved; the seat is theirs once they sign up."
                    if seat.is_pending
                    else f"{seat.email} now holds a seat.",
                )
                return redirect("account-license", pk=pk)
            elif action == "attach_organisation":
                organisation = get_object_or_404(
                    Organisation.objects.for_user(request.user), slug=request.POST.get("org", "")
                )
                seats.attach_license(license, organisation, actor=request.user)
                messages.success(request, f"{organisation.name}'s members now share this license.")
                return redirect("account-license", pk=pk)
            elif action == "remove_seat":
                seat = seats.remove_seat(
                    license, int(request.POST.get("seat", 0)), actor=request.user
                )
                messages.success(request, f"{seat.email} no longer holds a seat.")
                return redirect("account-license", pk=pk)
        except (DomainError, ValueError) as exc:
            messages.error(request, getattr(exc, "detail", "Invalid request."))
        license.refresh_from_db()
    activations = Activation.objects.filter(license=license).order_by("-activated_at")[:100]
    versions = license.package.versions.published().order_by("-created_at")[:10]
    seat_rows = list(SeatAssignment.objects.active().filter(license=license))
    return render(
        request,
        "licensing/license_detail.html",
        {
            "license": license,
            "activations": activations,
            "new_key": new_key,
            "versions": versions,
            "seats": seat_rows,
            "seats_used": 1 + len(seat_rows),
            "admin_orgs": Organisation.objects.for_user(request.user).filter(
                memberships__user=request.user, memberships__role=Membership.Role.ADMIN
            )
            if license.kind == LicenseKind.ORG and license.organisation_id is None
            else [],
        },
    )


@login_required
def account_organisations(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Your organisations, and a form to create one."""
    if request.method == "POST":
        try:
            organisation = organisations.create_organisation(
                request.user, name=request.POST.get("name", "")
            )
        except DomainError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, f"{organisation.name} is created; you are its admin.")
            return redirect("account-organisation", slug=organisation.slug)
    rows = (
        Membership.objects.filter(user=request.user)
        .select_related("organisation__owner")
        .annotate(members=Count("organisation__memberships", distinct=True))
        .order_by("organisation__name")
    )
    return render(request, "licensing/organisations.html", {"memberships": rows})


def _org_action(organisation, action: str, post, user) -> str:
    """Do one of the organisation page's form actions through the service; the message to show."""
    if action == "add":
        added = organisations.add_member(
            organisation, post.get("email"), role=post.get("role"), actor=user
        )
        if isinstance(added, Membership):
            return f"{added.user.email} is a member now."
        return f"{added.email} is invited; they join once they sign up and confirm the address."
    if action == "remove":
        organisations.remove_member(organisation, _int(post.get("member")), actor=user)
        return "The member is removed."
    if action == "withdraw":
        organisations.cancel_invitation(organisation, _int(post.get("invitation")), actor=user)
        return "The invitation is withdrawn."
    if action == "leave":
        organisations.leave(organisation, user)
        return "You left the organisation."
    raise DomainError("Unknown action.", code="invalid")


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@login_required
def account_organisation(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """One of your organisations: members, invitations (admins) and the licenses it shares."""
    organisation = get_object_or_404(
        Organisation.objects.for_user(request.user).select_related("owner"), slug=slug
    )
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            message = _org_action(organisation, action, request.POST, request.user)
        except DomainError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, message)
            if action == "leave":
                return redirect("account-organisations")
        return redirect("account-organisation", slug=organisation.slug)
    is_admin = organisations.is_admin(organisation, request.user)
    members = Membership.objects.filter(organisation=organisation).select_related("user")
    return render(
        request,
        "licensing/organisation.html",
        {
            "organisation": organisation,
            "is_admin": is_admin,
            "members": members,
            "invitations": organisation.invitations.open() if is_admin else [],
            "licenses": License.objects.filter(organisation=organisation).select_related(
                "package", "listing"
            ),
            "roles": Membership.Role.choices,
        },
    )
