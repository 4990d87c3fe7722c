"""Storefront pages of jobs and batches: live status (the page refreshes while running) and
the plot, rendered by the API's plot endpoints."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from execution.models import SimulationBatch, SimulationJob

REFRESH_SECONDS = 2


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = (
        SimulationJob.objects.filter(owner=request.user, batch__isnull=True)
        .select_related("version__package")
        .defer("log", "inputs", "settings", "result_stats")
    )
    page = Paginator(jobs, 50).get_page(request.GET.get("page"))
    batches = SimulationBatch.objects.filter(owner=request.user).select_related("version__package")[
        :20
    ]
    return render(request, "execution/job_list.html", {"page": page, "batches": batches})


@login_required
def job_detail(request: HttpRequest, pk) -> HttpResponse:
    job = get_object_or_404(
        SimulationJob.objects.visible_to(request.user).select_related("version__package"), pk=pk
    )
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
        SimulationBatch.objects.visible_to(request.user).select_related("version__package"),
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
