"""Execution API: jobs, their results and plots, parameter sweeps (batches).

Every job or batch of another user is a 404 (moderators see all). Results are time series
only; the FMU file never leaves the registry through any of these endpoints.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from execution import notify, plots, results
from execution.models import JobStatus, SimulationBatch, SimulationJob
from execution.serializers import (
    BatchCreateFormSerializer,
    BatchCreateSerializer,
    BatchSummarySerializer,
    JobCreateFormSerializer,
    JobCreateSerializer,
    JobListQuerySerializer,
    JobResultsQuerySerializer,
    JobResultsSerializer,
    SimulationBatchDetailSerializer,
    SimulationBatchSerializer,
    SimulationJobDetailSerializer,
    SimulationJobSerializer,
)
from execution.services import batches as batch_services
from execution.services import jobs as job_services
from execution.services.job_settings import SettingsInvalid, _Catalog, parse_inputs_csv
from fmugateway.core.api import Pagination, validated_query
from fmugateway.core.errors import ConflictError, DomainError
from fmugateway.core.idempotency import idempotent
from fmugateway.core.parsers import FormParser, JSONParser, MultiPartParser

JSON_FIELDS = ("start_values", "inputs", "outputs", "grid", "runs")
VERSION_FIELDS = ("package", "version", "version_id")
MAX_INPUT_CSV_BYTES = 10 * 1024 * 1024
MAX_WAIT_SECONDS = 3600  # larger ?wait= is refused; JOB_WAIT_MAX_SECONDS then cuts the wait
RUN_ERRORS = {402, 451}  # insufficient_credits / run_quota_exhausted, package_taken_down
FILE = "A job's result (CSV or MAT-file) or a batch's summary (summary.csv or summary.json)."
MAT_TYPE = "application/x-matlab-data"
REDIRECT = OpenApiResponse(description="Found: a short-lived signed link, bound to you.")
LOCATION = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    response=[302],
    description="Where the file is.",
)


def visible_jobs(request: Request) -> QuerySet[SimulationJob]:
    return SimulationJob.objects.visible_to(request.user).with_version()


def visible_job(request: Request, pk) -> SimulationJob:
    return get_object_or_404(visible_jobs(request), pk=pk)


def visible_batch(request: Request, pk) -> SimulationBatch:
    return get_object_or_404(SimulationBatch.objects.visible_to(request.user).with_version(), pk=pk)


def job_body(job: SimulationJob, request: Request) -> dict:
    return SimulationJobDetailSerializer(job, context={"request": request}).data


def batch_body(batch: SimulationBatch, request: Request, *, detail: bool = False) -> dict:
    serializer = SimulationBatchDetailSerializer if detail else SimulationBatchSerializer
    return serializer(batch, context={"request": request}).data


def request_settings(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """(version fields, settings) from a JSON or multipart body (JSON text in form fields)."""
    if hasattr(request.data, "dict"):  # a QueryDict: form or multipart
        raw: dict[str, Any] = dict(request.data.dict().items())
        raw.pop("inputs_csv", None)
        for name in JSON_FIELDS:
            if isinstance(raw.get(name), str) and raw[name].strip():
                try:
                    raw[name] = json.loads(raw[name])
                except ValueError:
                    raise SettingsInvalid(
                        fields={name: [{"code": "parse_error", "detail": "Not valid JSON."}]}
                    ) from None
        upload = request.FILES.get("inputs_csv")
        if upload is not None:
            if (upload.size or 0) > MAX_INPUT_CSV_BYTES:
                raise SettingsInvalid(
                    fields={"inputs": [{"code": "too_large", "detail": "At most 10 MB."}]}
                )
            raw["inputs"] = parse_inputs_csv(upload.read())
    elif isinstance(request.data, dict):
        raw = dict(request.data)
    else:
        raise DomainError("Send a JSON object.", code="parse_error")
    target = {name: raw.pop(name) for name in VERSION_FIELDS if name in raw}
    return target, raw


def _request_bodies(json_serializer, form_serializer) -> dict:
    return {
        "application/json": json_serializer,
        "multipart/form-data": form_serializer,
        "application/x-www-form-urlencoded": form_serializer,
    }


@extend_schema(tags=["execution"])
class JobListView(APIView):
    """Your jobs (newest first; ``?status=``, ``?package=``, ``?version_id=``, ``?batch=``);
    POST runs a model (honours ``Idempotency-Key``)."""

    required_scopes = {"GET": "read", "POST": "run"}
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    pagination_class = Pagination
    error_statuses = {"POST": RUN_ERRORS}

    @extend_schema(
        parameters=[JobListQuerySerializer], responses=SimulationJobSerializer(many=True)
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        wanted = validated_query(request, JobListQuerySerializer)
        queryset = SimulationJob.objects.filter(owner=request.user).with_version()
        if "status" in wanted:
            queryset = queryset.filter(status=wanted["status"])
        if "package" in wanted:
            queryset = queryset.filter(version__package__slug=wanted["package"])
        if "version_id" in wanted:
            queryset = queryset.filter(version_id=wanted["version_id"])
        if "batch" in wanted:
            queryset = queryset.filter(batch_id=wanted["batch"]).order_by("batch_index")
        else:
            queryset = queryset.filter(batch__isnull=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset.defer("log", "inputs"), request, view=self)
        return paginator.get_paginated_response(
            SimulationJobSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        request=_request_bodies(JobCreateSerializer, JobCreateFormSerializer),
        responses={201: SimulationJobDetailSerializer},
    )
    @idempotent
    def post(self, request: AuthenticatedRequest) -> Response:
        target, data = request_settings(request)
        version = job_services.resolve_version(request.user, **target)
        job = job_services.submit_job(request.user, version, data)
        return Response(job_body(job, request), status=status.HTTP_201_CREATED)


def _wait_seconds(request: Request) -> float:
    """``?wait=N``: seconds to hold the answer until the job ends (cut to
    ``JOB_WAIT_MAX_SECONDS``; 0 without Redis)."""
    raw = request.query_params.get("wait")
    if raw in (None, ""):
        return 0.0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise DomainError(
            "wait is a number of seconds.",
            code="invalid_wait",
            fields={"wait": [{"code": "invalid_number", "detail": "Give seconds, at least 0."}]},
        )
    if seconds > MAX_WAIT_SECONDS:
        raise DomainError(
            f"wait is at most {MAX_WAIT_SECONDS} seconds.",
            code="invalid_wait",
            fields={"wait": [{"code": "out_of_range", "detail": f"At most {MAX_WAIT_SECONDS}."}]},
        )
    if not notify.available():
        return 0.0
    return min(seconds, float(settings.JOB_WAIT_MAX_SECONDS))


@extend_schema(
    tags=["execution"],
    responses=SimulationJobDetailSerializer,
    parameters=[
        OpenApiParameter(
            "wait",
            {"type": "number", "format": "double", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
            description="Long-poll: answer as soon as the job ends, or after this many seconds, "
            "whichever comes first. Waits longer than the server's JOB_WAIT_MAX_SECONDS (30 by "
            "default) are cut to it; without Redis the answer comes at once.",
        )
    ],
)
class JobDetailView(APIView):
    """A job. With ``?wait=N`` an unfinished job's answer is held until it ends (woken through
    Redis, no polling) or N seconds pass; the status then tells which."""

    required_scopes = {"GET": "read"}

    def get(self, request: Request, pk) -> Response:
        # Another user's job is a 404 at the first read, before any waiting.
        job = notify.wait_for_end(pk, lambda: visible_job(request, pk), _wait_seconds(request))
        return Response(job_body(job, request))


def _finished_job(request: Request, pk) -> SimulationJob:
    # Results never need the job's input series or log (up to JOB_MAX_INPUT_ROWS rows).
    job = get_object_or_404(visible_jobs(request).defer("inputs", "log"), pk=pk)
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        raise ConflictError("The job has not finished yet.", code="job_not_finished")
    if job.status != JobStatus.SUCCEEDED or not job.result_npy_key:
        raise ConflictError(f"The job ended as {job.status}; it has no results.", code="no_results")
    return job


def _units(job_or_batch) -> dict[str, str]:
    catalog = _Catalog(job_or_batch.version)  # cached per version: no query once warm
    return {name: info.unit for name, info in catalog.by_name.items() if info.unit}


@extend_schema(
    tags=["execution"], responses=JobResultsSerializer, parameters=[JobResultsQuerySerializer]
)
class JobResultsView(APIView):
    """The result as JSON columns (``time`` first), with units and a signed CSV link. 409
    ``job_not_finished`` or ``no_results`` before it has succeeded. ``?max_points=`` decimates
    it for display (the job page's plot); the CSV is always every row."""

    required_scopes = {"GET": "read"}
    error_statuses = {409}

    def get(self, request: Request, pk) -> Response:
        job = _finished_job(request, pk)
        query = validated_query(request, JobResultsQuerySerializer)
        array = results.load_array(job.result_npy_key)
        names = list(array.dtype.names or ())
        wanted = query.get("columns")
        if wanted:
            chosen = plots.choose_variables(names, wanted)
            names = ["time", *[name for name in chosen if name != "time"]]
        total = len(array)
        if query.get("max_points", total) < total:
            array = array[results.display_rows(array, names[1:], query["max_points"])]
        units = _units(job)
        link = results.issue_link(request, kind="job", object_id=str(job.pk), name="csv")
        body = {
            "job": job.pk,
            "rows": total,
            "points": len(array),
            "decimated": len(array) < total,
            "columns": results.json_columns(array, names),
            "units": {name: units.get(name, "s" if name == "time" else "") for name in names},
            "csv_url": link["url"],
            "csv_expires_at": link["expires_at"],
        }
        return Response(JobResultsSerializer(body).data)


@extend_schema(tags=["execution"], responses={302: REDIRECT}, parameters=[LOCATION])
class JobResultsCsvView(APIView):
    """Redirects to a short-lived signed URL of the result CSV."""

    required_scopes = {"GET": "read"}
    error_statuses = {409}

    def get(self, request: Request, pk) -> HttpResponse:
        job = _finished_job(request, pk)
        link = results.issue_link(request, kind="job", object_id=str(job.pk), name="csv")
        return HttpResponseRedirect(link["url"])


@extend_schema(tags=["execution"], responses={302: REDIRECT}, parameters=[LOCATION])
class JobResultsMatView(APIView):
    """Redirects to a short-lived signed URL of the result as a MATLAB MAT-file (level 5, what
    ``load`` reads): every column at full resolution with its own type, named for MATLAB, with
    ``names``/``matlab_names`` mapping them to the model's names."""

    required_scopes = {"GET": "read"}
    error_statuses = {409}

    def get(self, request: Request, pk) -> HttpResponse:
        job = _finished_job(request, pk)
        link = results.issue_link(request, kind="job", object_id=str(job.pk), name="mat")
        return HttpResponseRedirect(link["url"])


@extend_schema(
    tags=["execution"],
    responses={
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description=FILE),
        (200, MAT_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description=FILE),
        (200, "application/json"): OpenApiResponse(BatchSummarySerializer, description=FILE),
        302: OpenApiResponse(description="Found: the file in remote storage (a presigned URL)."),
    },
    parameters=[LOCATION],
)
class ResultFileView(APIView):
    """Serve a signed result link to the user it was issued to, while they may still see the
    job or batch (403 ``result_link_not_yours`` for anyone else, 410 ``result_link_expired``
    once it has expired)."""

    required_scopes = {"GET": "read"}
    error_statuses = {410}

    def get(self, request: Request, token: str):
        claims = results.unsign_link(token)
        if claims["u"] != request.user.pk:
            raise results.LinkNotYours()
        if claims["k"] == "job" and claims["n"] == "mat":
            job = visible_jobs(request).defer("inputs", "log").filter(pk=claims["o"]).first()
            if job is None or not job.result_npy_key:
                raise results.LinkInvalid()
            # Written on request: it is a copy of the .npy's bytes, as quick as reading a file.
            mat = HttpResponse(
                results.mat_bytes(results.load_array(job.result_npy_key)), content_type=MAT_TYPE
            )
            mat["Content-Disposition"] = f'attachment; filename="job-{job.pk}.mat"'
            return mat
        if claims["k"] == "job" and claims["n"] == "csv":
            job = visible_jobs(request).filter(pk=claims["o"]).first()
            if job is None or not job.result_npy_key:
                raise results.LinkInvalid()
            key = job.result_csv_key or _write_csv(job)
            filename = f"job-{job.pk}.csv"
        elif claims["k"] == "batch" and claims["n"] in ("summary.csv", "summary.json"):
            batch = SimulationBatch.objects.visible_to(request.user).filter(pk=claims["o"]).first()
            if batch is None or not batch.summary_csv_key:
                raise results.LinkInvalid()
            key = batch.summary_csv_key if claims["n"] == "summary.csv" else batch.summary_json_key
            filename = f"batch-{batch.pk}-{claims['n']}"
        else:
            raise results.LinkInvalid()
        remote = results.redirect_url(key)
        if remote:
            return HttpResponseRedirect(remote)
        response = FileResponse(
            results.results_storage().open(key, "rb"), as_attachment=True, filename=filename
        )
        response["Content-Type"] = "text/csv" if filename.endswith(".csv") else "application/json"
        return response


def _write_csv(job: SimulationJob) -> str:
    array = results.load_array(job.result_npy_key)
    key = results.save(
        job.result_npy_key.rsplit("/", 1)[0] + "/result.csv", results.csv_bytes(array)
    )
    SimulationJob.objects.filter(pk=job.pk, result_csv_key="").update(result_csv_key=key)
    return key


@extend_schema(
    tags=["execution"],
    responses={(200, "image/png"): OpenApiTypes.BINARY, (200, "image/svg+xml"): OpenApiTypes.STR},
    parameters=[
        OpenApiParameter("variables", str, description="Comma-separated; default: first six."),
        OpenApiParameter("fmt", str, enum=["png", "svg"]),
    ],
)
class JobPlotView(APIView):
    """The result plotted against time (PNG or SVG), one panel per unit."""

    required_scopes = {"GET": "read"}
    error_statuses = {409}

    def get(self, request: Request, pk) -> HttpResponse:
        job = _finished_job(request, pk)
        fmt = plots.check_format(request.query_params.get("fmt"))
        array = results.load_array(job.result_npy_key)
        names = list(array.dtype.names or ())[1:]
        chosen = plots.choose_variables(names, request.query_params.get("variables"))
        if len(array) > plots.PLOT_POINTS:  # min and max per bucket: the same picture
            array = array[results.display_rows(array, chosen, plots.PLOT_POINTS)]
        image = plots.render_time_series(
            array["time"],
            {name: array[name] for name in chosen},
            _units(job),
            fmt=fmt,
            title=f"{job.version.package.name} {job.version.version}",
        )
        return HttpResponse(image, content_type=plots.FORMATS[fmt])


@extend_schema(tags=["execution"], request=None, responses=SimulationJobDetailSerializer)
class JobCancelView(APIView):
    required_scopes = {"POST": "run"}

    def post(self, request: AuthenticatedRequest, pk) -> Response:
        job = visible_job(request, pk)
        job_services.require_owner(job, request.user)  # moderators cancel in the admin
        job = job_services.cancel_job(job, request.user)
        return Response(job_body(visible_job(request, job.pk), request))


@extend_schema(tags=["execution"], request=None, responses={201: SimulationJobDetailSerializer})
class JobRerunView(APIView):
    """Run the same FMU again with this job's recorded settings and inputs."""

    required_scopes = {"POST": "run"}
    error_statuses = RUN_ERRORS

    @idempotent
    def post(self, request: AuthenticatedRequest, pk) -> Response:
        job = visible_job(request, pk)
        job_services.require_owner(job, request.user)  # a moderator's rerun would copy inputs
        new = job_services.rerun_job(job, request.user)
        return Response(
            job_body(visible_job(request, new.pk), request), status=status.HTTP_201_CREATED
        )


@extend_schema(tags=["execution"])
class BatchListView(APIView):
    """Your batches; POST starts a parameter sweep: the job settings plus ``grid`` (name ->
    values, every combination) or ``runs`` (a list of start-value objects)."""

    required_scopes = {"GET": "read", "POST": "run"}
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    pagination_class = Pagination
    error_statuses = {"POST": RUN_ERRORS}

    @extend_schema(responses=SimulationBatchSerializer(many=True))
    def get(self, request: AuthenticatedRequest) -> Response:
        queryset = SimulationBatch.objects.filter(owner=request.user).with_version()
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(
            SimulationBatchSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        request=_request_bodies(BatchCreateSerializer, BatchCreateFormSerializer),
        responses={201: SimulationBatchSerializer},
    )
    @idempotent
    def post(self, request: AuthenticatedRequest) -> Response:
        target, data = request_settings(request)
        version = job_services.resolve_version(request.user, **target)
        batch = batch_services.submit_batch(request.user, version, data)
        return Response(
            batch_body(visible_batch(request, batch.pk), request), status=status.HTTP_201_CREATED
        )


@extend_schema(
    tags=["execution"],
    responses=SimulationBatchDetailSerializer,
    parameters=[
        OpenApiParameter(
            "wait",
            {"type": "number", "format": "double", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
            description="Long-poll: answer as soon as the batch ends or more of its runs have "
            "finished than when the request arrived, or after this many seconds, whichever comes "
            "first. Cut to JOB_WAIT_MAX_SECONDS (30 by default); without Redis the answer comes "
            "at once.",
        )
    ],
)
class BatchDetailView(APIView):
    """Progress; once finished, the summary table inline (``summary``) and links. With
    ``?wait=N`` an unfinished batch's answer is held until a run finishes or it ends."""

    required_scopes = {"GET": "read"}

    def get(self, request: Request, pk) -> Response:
        seen: list[int] = []  # runs finished at the first read (a 404 comes before any waiting)

        def progressed(row: SimulationBatch) -> bool:
            if not seen:
                seen.append(row.runs_finished)
            return row.finished or row.runs_finished != seen[0]

        batch = notify.wait_for_end(
            pk, lambda: visible_batch(request, pk), _wait_seconds(request), progressed
        )
        if batch.summary_json_key:
            # Read by the detail serializer; set on this instance only, never saved.
            with results.results_storage().open(batch.summary_json_key, "rb") as handle:
                batch.summary = json.load(handle)  # type: ignore[attr-defined]
            link = results.issue_link(
                request, kind="batch", object_id=str(batch.pk), name="summary.csv"
            )
            batch.summary_csv_url = link["url"]  # type: ignore[attr-defined]
            batch.summary_csv_expires_at = link["expires_at"]  # type: ignore[attr-defined]
        return Response(batch_body(batch, request, detail=True))


def _finished_batch(request: Request, pk) -> SimulationBatch:
    batch = visible_batch(request, pk)
    if not batch.summary_csv_key:
        raise ConflictError("The batch has not finished yet.", code="batch_not_finished")
    return batch


@extend_schema(tags=["execution"], responses={302: REDIRECT}, parameters=[LOCATION])
class BatchSummaryCsvView(APIView):
    """Redirects to a short-lived signed URL of the summary CSV."""

    required_scopes = {"GET": "read"}
    error_statuses = {409}

    def get(self, request: Request, pk) -> HttpResponse:
        batch = _finished_batch(request, pk)
        link = results.issue_link(
            request, kind="batch", object_id=str(batch.pk), name="summary.csv"
        )
        return HttpResponseRedirect(link["url"])


@extend_schema(
    tags=["execution"],
    responses={(200, "image/png"): OpenApiTypes.BINARY, (200, "image/svg+xml"): OpenApiTypes.STR},
    parameters=[
        OpenApiParameter("variables", str, description="Outputs; default: first six."),
        OpenApiParameter("stat", str, enum=["final", "min", "max"]),
        OpenApiParameter("fmt", str, enum=["png", "svg"]),
    ],
)
class BatchPlotView(APIView):
    """Each output's final (or min/max) value per run, against the swept parameter when one
    numeric parameter was swept, else against the run number."""

    required_scopes = {"GET": "read"}
    error_statuses = {409}

    def get(self, request: Request, pk) -> HttpResponse:
        batch = _finished_batch(request, pk)
        fmt = plots.check_format(request.query_params.get("fmt"))
        stat = request.query_params.get("stat") or "final"
        if stat not in ("final", "min", "max"):
            raise DomainError(
                "stat is final, min or max.",
                code="invalid_choice",
                fields={"stat": [{"code": "invalid_choice", "detail": "final, min or max"}]},
            )
        header, rows, outputs = batch_services.summary_table(batch)
        chosen = plots.choose_variables(outputs, request.query_params.get("variables"))
        parameters = list(batch.parameters or [])
        x_label, xs = "run", [row[0] for row in rows]
        if len(parameters) == 1:
            values = [row[3] for row in rows]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                x_label, xs = parameters[0], values
        units = _units(batch)
        if x_label in units:
            x_label = f"{x_label} [{units[x_label]}]"
        series = {name: [row[header.index(f"{name}.{stat}")] for row in rows] for name in chosen}
        image = plots.render_points(
            xs,
            series,
            units,
            x_label=x_label,
            fmt=fmt,
            title=f"{batch.version.package.name} {batch.version.version}: {stat} values",
        )
        return HttpResponse(image, content_type=plots.FORMATS[fmt])


@extend_schema(tags=["execution"], request=None, responses=SimulationBatchSerializer)
class BatchCancelView(APIView):
    required_scopes = {"POST": "run"}

    def post(self, request: AuthenticatedRequest, pk) -> Response:
        batch = visible_batch(request, pk)
        job_services.require_owner(batch, request.user)  # moderators cancel in the admin
        batch = batch_services.cancel_batch(batch, request.user)
        return Response(batch_body(visible_batch(request, batch.pk), request))
