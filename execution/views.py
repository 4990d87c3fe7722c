"""Storefront pages of jobs and batches: live status while running (static/js/livestatus.js
long-polls the API; without JavaScript a <noscript> meta refresh) and the plot."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from execution import history, plots, results, results_table, services
from execution.forms import REQUEST_ATTR, RunForm
from execution.models import JobStatus, SimulationBatch, SimulationJob
from execution.services.job_settings import _Catalog
from fmugateway.core.errors import DomainError
from registry.models import PackageVersion

REFRESH_SECONDS = 2
JOBS_PER_PAGE = 50


@login_required
def job_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Your jobs, newest first, filtered by model, status and dates (GET, works without
    JavaScript); each with a "re-run with edits" link, and two picked for comparison."""
    mine = SimulationJob.objects.filter(owner=request.user, batch__isnull=True)
    filters = history.JobHistoryFilter(request.GET, models=history.model_choices(mine))
    jobs = filters.apply(mine.with_version().defer("log", "inputs", "result_stats"))
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    batches = SimulationBatch.objects.filter(owner=request.user).with_version()[:20]
    return render(
        request,
        "execution/job_list.html",
        {
            "page": page,
            "rows": [(job, history.rerun_url(job)) for job in page.object_list],
            "filters": filters,
            "filtered": any(request.GET.get(name) for name in filters.fields),
            "filter_query": query.urlencode(),
            "batches": batches,
        },
    )


@login_required
def job_detail(request: HttpRequest, pk) -> HttpResponse:
    job = get_object_or_404(SimulationJob.objects.visible_to(request.user).with_version(), pk=pk)
    variables = (job.result_columns or [])[1:]
    chosen = request.GET.get("variables", "")
    context = {
        "job": job,
        "refresh": REFRESH_SECONDS if not job.finished else None,
        "status_labels": dict(JobStatus.choices),
        "variables": variables,
        "chosen": chosen,
        "results_table": results_table.for_job(request, job),
    }
    if job.status == JobStatus.SUCCEEDED and job.result_npy_key:
        context.update(_plot_context(request, job, variables, chosen))
    return render(request, "execution/job_detail.html", context)


PREVIOUS_RUNS = 10


def _plot_context(request: HttpRequest, job: SimulationJob, variables: list[str], chosen: str):
    """The interactive plot's choices and its configuration (read by static/js/plot.js): the
    variables (those asked for, else the first few, as the server-rendered plot), and the
    owner's earlier successful runs of the same version the viewer may see, to overlay."""
    wanted = [name for name in (part.strip() for part in chosen.split(",")) if name in variables]
    shown = set(wanted[: plots.MAX_VARIABLES] or variables[: plots.DEFAULT_VARIABLES])
    catalog = _Catalog(job.version)  # cached per version, as the results API's units
    units = {name: info.unit for name, info in catalog.by_name.items() if info.unit}
    previous = list(
        SimulationJob.objects.visible_to(request.user)
        .filter(
            owner_id=job.owner_id,
            version_id=job.version_id,
            batch__isnull=True,
            status=JobStatus.SUCCEEDED,
            created_at__lt=job.created_at,
        )
        .exclude(result_npy_key="")
        .order_by("-created_at")
        .only("pk", "created_at", "settings")[:PREVIOUS_RUNS]
    )

    def run(other: SimulationJob, label: str) -> dict:
        url = reverse("api-job-results", kwargs={"pk": other.pk})
        return {"id": str(other.pk), "label": label, "url": url}

    def when(other: SimulationJob) -> str:
        return f"{timezone.localtime(other.created_at):%Y-%m-%d %H:%M:%S}"

    return {
        "plot_variables": [
            {"name": name, "unit": units.get(name, ""), "shown": name in shown}
            for name in variables
        ],
        "previous_runs": [{"job": other, "label": f"Run of {when(other)}"} for other in previous],
        "plot_config": {
            "max_points": results.DISPLAY_POINTS,
            "max_variables": plots.MAX_VARIABLES,
            "runs": [
                run(job, "this run"),
                *(run(other, f"run of {when(other)}") for other in previous),
            ],
        },
    }


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
            "status_labels": dict(JobStatus.choices),
        },
    )


def _compared_ids(request: HttpRequest) -> tuple[uuid.UUID, uuid.UUID] | None:
    try:
        return uuid.UUID(request.GET.get("a", "")), uuid.UUID(request.GET.get("b", ""))
    except ValueError:
        return None


def _compared_jobs(
    request: HttpRequest, ids: tuple[uuid.UUID, uuid.UUID]
) -> tuple[SimulationJob, SimulationJob]:
    """Both jobs, each a 404 unless the user may see it (their own; any for moderators)."""
    visible = SimulationJob.objects.visible_to(request.user).with_version().defer("log")
    return get_object_or_404(visible, pk=ids[0]), get_object_or_404(visible, pk=ids[1])


def _common_variables(a: SimulationJob, b: SimulationJob) -> list[str]:
    theirs = set((b.result_columns or [])[1:])
    return [name for name in (a.result_columns or [])[1:] if name in theirs]


def _has_results(job: SimulationJob) -> bool:
    return job.status == JobStatus.SUCCEEDED and bool(job.result_npy_key)


@login_required
def job_compare(request: HttpRequest) -> HttpResponse:
    """Two runs side by side (``?a=<job id>&b=<job id>``): their settings with the differences
    marked, and both results overlaid in one server-rendered plot."""
    ids = _compared_ids(request)
    if ids is None:
        return render(request, "execution/job_compare.html", {"missing": True}, status=400)
    a, b = _compared_jobs(request, ids)
    units = results_table.variable_units(a.version)
    diff = history.settings_diff(a, b, units)
    common = _common_variables(a, b)
    chosen_text = request.GET.get("variables", "")
    variables_error = ""
    try:
        chosen = plots.choose_variables(common, chosen_text)
    except DomainError as exc:
        chosen, variables_error = plots.choose_variables(common, None), exc.detail
    plot_url = None
    if _has_results(a) and _has_results(b) and chosen:
        query = urlencode({"a": a.pk, "b": b.pk, "variables": ",".join(chosen), "fmt": "svg"})
        plot_url = f"{reverse('job-compare-plot')}?{query}"
    return render(
        request,
        "execution/job_compare.html",
        {
            "a": a,
            "b": b,
            "diff": diff,
            "changed": sum(row.changed for row in diff),
            "rerun_a": history.rerun_url(a),
            "rerun_b": history.rerun_url(b),
            "common": common,
            "chosen": chosen_text,
            "variables_error": variables_error,
            "plot_url": plot_url,
        },
    )


@login_required
def job_compare_plot(request: HttpRequest) -> HttpResponse:
    """The compare page's image: the chosen variables of both runs, A solid, B dashed."""
    ids = _compared_ids(request)
    if ids is None:
        raise Http404("Pick two jobs.")
    a, b = _compared_jobs(request, ids)
    if not (_has_results(a) and _has_results(b)):
        return HttpResponse("Both runs need results.", status=409, content_type="text/plain")
    try:
        fmt = plots.check_format(request.GET.get("fmt"))
        chosen = plots.choose_variables(_common_variables(a, b), request.GET.get("variables"))
    except DomainError as exc:
        return HttpResponse(exc.detail, status=exc.status_code, content_type="text/plain")
    runs = []
    for label, job in (("A", a), ("B", b)):
        array = results.load_array(job.result_npy_key)
        if len(array) > plots.PLOT_POINTS:
            array = array[results.display_rows(array, chosen, plots.PLOT_POINTS)]
        runs.append((label, array["time"], {name: array[name] for name in chosen}))
    image = plots.render_runs(
        runs,
        results_table.variable_units(a.version),
        fmt=fmt,
        title=f"A: {a.version.package.name} {a.version.version} · "
        f"B: {b.version.package.name} {b.version.version}",
    )
    return HttpResponse(image, content_type=plots.FORMATS[fmt])


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
