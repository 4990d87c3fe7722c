"""Storefront pages of jobs and batches: live status (the page refreshes while running) and
the plot, rendered by the API's plot endpoints."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from execution import services
from execution.forms import REQUEST_ATTR, RunForm
from execution.models import SimulationBatch, SimulationJob
from fmugateway.core.errors import DomainError
from registry.models import PackageVersion

REFRESH_SECONDS = 2


@login_required
def job_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    jobs = (
        SimulationJob.objects.filter(owner=request.user, batch__isnull=True)
        .with_version()
        .defer("log", "inputs", "settings", "result_stats")
    )
    page = Paginator(jobs, 50).get_page(request.GET.get("page"))
    batches = SimulationBatch.objects.filter(owner=request.user).with_version()[:20]
    return render(request, "execution/job_list.html", {"page": page, "batches": batches})


@login_required
def job_detail(request: HttpRequest, pk) -> HttpResponse:
    job = get_object_or_404(SimulationJob.objects.visible_to(request.user).with_version(), pk=pk)
    variables = (job.result_columns or [])[1:]
    return render(
        request,
        "execution/job_detail.html",
        {
            "job": job,
            "refresh": REFRESH_SECONDS if not job.finished else None,
            "variables": variables,
            "chosen": request.GET.get("variables", ""),
        },
    )


@login_required
def batch_detail(request: HttpRequest, pk) -> HttpResponse:
    batch = get_object_or_404(
        SimulationBatch.objects.visible_to(request.user).with_version(),
        pk=pk,
    )
    runs = batch.runs.order_by("batch_index").only(
        "pk", "batch_index", "status", "error_code", "settings"
    )[:200]
    return render(
        request,
        "execution/batch_detail.html",
        {
            "batch": batch,
            "runs": runs,
            "refresh": REFRESH_SECONDS if not batch.finished else None,
        },
    )


@login_required
@require_POST
def job_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The package page's run form: submit one job and show its page; a refused form comes back
    on the package page with each problem next to its field and the entered values kept.
    ``action=share`` instead opens the page with the form's values in its URL (no JS needed)."""
    # The user itself, not the request's lazy wrapper (billing inspects the model class).
    user = getattr(request.user, "_wrapped", request.user)
    try:
        version = services.resolve_version(user, version_id=request.POST.get("version_id"))
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("job-list")
    form = RunForm(version, request.POST)
    if request.POST.get("action") == "share":
        return redirect(form.share_url)
    try:
        job = services.submit_job(user, version, form.to_settings())
    except DomainError as exc:
        if not exc.fields:
            # Not about a field (credits, rights): said above the page, the values kept in the
            # page's address (the form may not even be shown to this user).
            messages.error(request, exc.detail)
            return redirect(form.share_url)
        form.add_errors(exc)
        return _refused(request, version, form)
    return redirect("job-detail", pk=job.pk)


def _refused(request: HttpRequest, version: PackageVersion, form: RunForm) -> HttpResponse:
    """The package page of ``version`` with the refused form (see ``run_form_context``)."""
    from registry.views import package_detail

    setattr(request, REQUEST_ATTR, form)
    response = package_detail(request, version.package.slug, version.version)
    response.status_code = form.status_code
    return response
