"""Pages of the DMCA flow: the public complaint form and the creator console's takedowns.

The fields and their rules live in ``compliance.services.takedowns`` (the API uses the same);
the pages show its field errors next to the inputs.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.http import AuthenticatedHttpRequest
from compliance.models import TakedownComplaint
from compliance.services import takedowns
from fmugateway.core.errors import DomainError
from fmugateway.core.middleware import client_ip
from licensing.models import License
from registry.models import Package


def _errors(exc: DomainError) -> dict[str, str]:
    return {name: problems[0]["detail"] for name, problems in (exc.fields or {}).items()}


def taken_down_page(request: HttpRequest, package: Package) -> HttpResponse | None:
    """What a license holder sees at a package taken down: 451 with what happened and what they
    can do (registered with registry's package page). Everyone else keeps the 404."""
    if not License.objects.held_by(request.user).filter(package=package).exists():
        return None
    complaint = takedowns.takedown_in_force(package)
    if complaint is None:
        return None
    return render(
        request,
        "compliance/taken_down.html",
        {"package": package, "complaint": complaint, "support_email": settings.SUPPORT_EMAIL},
        status=451,
    )


def dmca_complaint(request: HttpRequest) -> HttpResponse:
    """``/dmca/``: anyone may report a package that infringes their copyright."""
    values = {"package": request.GET.get("package", "")}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = request.POST
        try:
            complaint = takedowns.submit_complaint(
                request.POST, user=request.user, ip=client_ip(request)
            )
        except DomainError as exc:
            errors = _errors(exc)
            messages.error(request, exc.detail)
        else:
            return render(request, "compliance/dmca_received.html", {"complaint": complaint})
    return render(
        request,
        "compliance/dmca_form.html",
        {"values": values, "errors": errors},
        status=400 if errors else 200,
    )


@login_required
def console_takedowns(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Complaints a moderator acted on against your packages; counter-notices are filed here."""
    errors: dict[str, str] = {}
    failed_for = None
    if request.method == "POST":
        try:
            complaint_id = int(request.POST.get("complaint", ""))
        except ValueError:
            complaint_id = 0
        try:
            takedowns.file_counter_notice(complaint_id, request.user, request.POST)
        except DomainError as exc:
            if exc.status_code == 404:
                raise Http404(exc.detail) from exc
            errors, failed_for = _errors(exc), complaint_id
            messages.error(request, exc.detail)
        else:
            messages.success(request, "Counter-notice filed. A moderator will review it.")
            return redirect("console-takedowns")
    complaints = (
        TakedownComplaint.objects.for_user(request.user)
        .filter(package__owner=request.user)
        .select_related("package", "counter_notice")
    )
    return render(
        request,
        "compliance/console_takedowns.html",
        {
            "complaints": complaints,
            "errors": errors,
            "failed_for": failed_for,
            "values": request.POST if failed_for else {},
        },
        status=400 if errors else 200,
    )
