"""Storefront and creator console pages of the registry (server-rendered, no JS required)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from fmugateway.core.errors import DomainError
from registry import downloads, services
from registry.access import may_download
from registry.forms import PackageForm, ReasonForm, VersionUploadForm
from registry.models import Package, PackageVersion, VersionSignature
from registry.pages import console_context, package_page_context, unavailable_page
from registry.uploads import install_upload_handler, received_file, test_vectors_from
from registry.validation import queue_validation

VARIABLES_PER_PAGE = 200


def _named_version(request, package: Package, version: str) -> PackageVersion:
    versions = PackageVersion.objects.visible_to(request.user).filter(package=package)
    return get_object_or_404(versions, version=version)


def _version_for_page(request, package: Package, version: str | None) -> PackageVersion | None:
    if version:
        return _named_version(request, package, version)
    versions = PackageVersion.objects.visible_to(request.user).filter(package=package)
    return versions.order_by("-created_at").first()


def package_detail(request: HttpRequest, slug: str, version: str | None = None) -> HttpResponse:
    package = (
        Package.objects.visible_to(request.user).select_related("owner").filter(slug=slug).first()
    )
    if package is None:
        # Hidden from this user: another app may say why (a takedown, to its license holders).
        hidden = Package.objects.filter(slug=slug).first()
        response = unavailable_page(request, hidden) if hidden is not None else None
        if response is None:
            raise Http404("No package matches the given query.")
        return response
    current = _version_for_page(request, package, version)
    versions = (
        PackageVersion.objects.visible_to(request.user)
        .filter(package=package)
        .only(
            "version",
            "fmi_version",
            "created_at",
            "certified",
            "validation_status",
            "yanked_at",
            "deprecated_at",
            "changelog",
            "package_id",
        )
    )
    variables = []
    query = request.GET.get("q", "").strip()[:200]
    causality = request.GET.get("causality", "")
    variable_count = 0
    signatures = []
    if current is not None:
        variable_qs = current.variables.all()
        if query:
            variable_qs = variable_qs.filter(
                Q(name__icontains=query) | Q(description__icontains=query)
            )
        if causality:
            variable_qs = variable_qs.filter(causality=causality)
        variable_count = variable_qs.count()
        variables = list(variable_qs[:VARIABLES_PER_PAGE])
        signatures = list(VersionSignature.objects.filter(version=current).select_related("key"))
    return render(
        request,
        "registry/package_detail.html",
        {
            "package": package,
            "current": current,
            "versions": versions,
            "variables": variables,
            "variable_count": variable_count,
            "variables_truncated": variable_count > len(variables),
            "query": query,
            "causality": causality,
            "signatures": signatures,
            "can_download": current is not None and may_download(request.user, current),
            "is_owner": request.user.is_authenticated and package.owner_id == request.user.pk,
            "latest_run": current.validation_runs.first() if current else None,
            **package_page_context(request, package, current),
        },
    )


def validation_report(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    package = get_object_or_404(Package.objects.visible_to(request.user), slug=slug)
    current = _named_version(request, package, version)
    run = current.validation_runs.first()
    if run is None:
        raise Http404("not validated yet")
    return render(
        request,
        "registry/validation_report.html",
        {"package": package, "current": current, "run": run},
    )


@login_required
@require_POST
def download(request: HttpRequest, slug: str, version: str) -> HttpResponse:
    package = get_object_or_404(Package.objects.visible_to(request.user), slug=slug)
    current = _named_version(request, package, version)
    try:
        link = downloads.issue_download_link(request, current)
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("package-version", slug=slug, version=version)
    return redirect(link["url"])


# --- creator console -----------------------------------------------------------------------


@login_required
def console(request: HttpRequest) -> HttpResponse:
    packages = (
        Package.objects.owned_by(request.user)
        .annotate(version_count=Count("versions"))
        .prefetch_related(Prefetch("versions", PackageVersion.objects.order_by("-created_at")))
        .order_by("-updated_at")
    )
    return render(
        request,
        "registry/console.html",
        {"packages": packages, **console_context(request, None)},
    )


@login_required
def console_new_package(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = PackageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            package = services.create_package(request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, "Package created. Upload its first version.")
            return redirect("console-package", slug=package.slug)
    return render(request, "registry/console_package_form.html", {"form": form})


@csrf_exempt  # checked by _console_package, once the upload handler is in place
@login_required
def console_package(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    # The hashing, size-capped handler must be installed before anything reads the body; the
    # CSRF middleware would read it first (for the token), so the check runs after this.
    install_upload_handler(request)
    return _console_package(request, slug)


@csrf_protect
def _console_package(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    package = get_object_or_404(Package.objects.owned_by(request.user), slug=slug)
    upload_form = VersionUploadForm()
    edit_form = PackageForm(instance=package)
    if request.method == "POST":
        try:
            action = request.POST.get("action")
            if action == "upload":
                upload_form = VersionUploadForm(request.POST, request.FILES)
                if upload_form.is_valid():
                    version = _upload_from_form(package, request.user, upload_form.cleaned_data)
                    messages.success(
                        request, f"Version {version.version} uploaded; validation is queued."
                    )
                    return redirect("console-package", slug=slug)
            elif action == "edit":
                edit_form = PackageForm(request.POST, instance=package)
                if edit_form.is_valid():
                    services.update_package(
                        package,
                        request.user,
                        **{key: edit_form.cleaned_data[key] for key in edit_form.fields},
                    )
                    messages.success(request, "Saved.")
                    return redirect("console-package", slug=slug)
            elif action == "submit":
                services.submit_for_review(package, request.user)
                messages.success(request, "Submitted for review. A moderator will look at it.")
                return redirect("console-package", slug=slug)
            elif action == "revalidate":
                version = get_object_or_404(package.versions, pk=request.POST.get("version"))
                queue_validation(version, requested_by=request.user)
                messages.success(request, f"Validation of {version.version} queued again.")
                return redirect("console-package", slug=slug)
            elif action == "yank":
                version = get_object_or_404(package.versions, pk=request.POST.get("version"))
                reason = ReasonForm(request.POST)
                if reason.is_valid():
                    services.yank_version(version, request.user, reason.cleaned_data["reason"])
                    messages.success(request, f"Version {version.version} yanked.")
                    return redirect("console-package", slug=slug)
                messages.error(request, "Give a reason for yanking the version.")
        except DomainError as exc:
            messages.error(request, exc.detail)
    versions = package.versions.order_by("-created_at").prefetch_related("validation_runs")
    return render(
        request,
        "registry/console_package.html",
        {
            "package": package,
            "versions": versions,
            "upload_form": upload_form,
            "edit_form": edit_form,
            "validating": any(v.validation_status in ("pending", "running") for v in versions),
            **console_context(request, package),
        },
    )


def _upload_from_form(package: Package, user, data: dict) -> PackageVersion:
    return services.upload_version(
        package,
        uploaded_by=user,
        upload=received_file(data["file"]),
        version=data["version"],
        changelog=data.get("changelog", ""),
        test_vectors=test_vectors_from(data),
    )
