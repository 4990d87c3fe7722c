"""Representations of jobs and batches, and the request bodies (for the API schema).

Validation of the settings is not here but in ``execution.services.validation``, against the
model description; these serializers only describe the shapes.
"""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from execution.models import SimulationBatch, SimulationJob


class JobRequestSerializer(serializers.Serializer):
    package = serializers.CharField(required=False, help_text="Package slug (with version).")
    version = serializers.CharField(required=False, help_text="Version number, e.g. 1.0.0.")
    version_id = serializers.IntegerField(required=False, help_text="Or the version's id.")
    start_time = serializers.FloatField(required=False)
    stop_time = serializers.FloatField(required=False)
    output_interval = serializers.FloatField(required=False)
    step_size = serializers.FloatField(required=False)
    fmi_type = serializers.ChoiceField(choices=["ME", "CS"], required=False)
    solver = serializers.ChoiceField(choices=["CVode", "Euler"], required=False)
    relative_tolerance = serializers.FloatField(required=False)
    start_values = serializers.DictField(required=False)
    inputs = serializers.DictField(
        required=False, help_text="Columns {'time': [...], '<input>': [...]}."
    )
    inputs_csv = serializers.FileField(required=False, help_text="Or a CSV (multipart).")
    outputs = serializers.ListField(child=serializers.CharField(), required=False)
    timeout_seconds = serializers.IntegerField(required=False)


class BatchRequestSerializer(JobRequestSerializer):
    grid = serializers.DictField(required=False, help_text="{name: [values]}: every combination.")
    runs = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="[{name: value}, ...]"
    )


def _absolute(request, name: str, **kwargs) -> str:
    return request.build_absolute_uri(reverse(name, kwargs=kwargs))


def job_data(job: SimulationJob, request, *, detail: bool = False) -> dict:
    version = job.version
    data = {
        "id": str(job.pk),
        "url": _absolute(request, "api-job-detail", pk=job.pk),
        "status": job.status,
        "package": version.package.slug,
        "version": version.version,
        "version_id": version.pk,
        "sha256": job.sha256,
        "batch": str(job.batch_id) if job.batch_id else None,
        "batch_index": job.batch_index,
        "rerun_of": str(job.rerun_of_id) if job.rerun_of_id else None,
        "settings": job.settings,
        "error_code": job.error_code or None,
        "error_message": job.error_message or None,
        "usage": job.usage,
        "cost_credits": job.cost_credits,
        "fmpy_version": job.fmpy_version,
        "attempts": job.attempts,
        "result": (
            {"rows": job.result_rows, "columns": job.result_columns, "sha256": job.result_sha256}
            if job.result_npy_key
            else None
        ),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }
    if job.status == SimulationJob.Status.SUCCEEDED:
        data["links"] = {
            "results": _absolute(request, "api-job-results", pk=job.pk),
            "results_csv": _absolute(request, "api-job-results-csv", pk=job.pk),
            "plot": _absolute(request, "api-job-plot", pk=job.pk),
        }
    if detail:
        data["inputs"] = job.inputs if job.inputs is not None else None
        data["log"] = job.log
        data["result_stats"] = job.result_stats or None
    return data


def batch_data(batch: SimulationBatch, request) -> dict:
    version = batch.version
    data = {
        "id": str(batch.pk),
        "url": _absolute(request, "api-batch-detail", pk=batch.pk),
        "status": batch.status,
        "package": version.package.slug,
        "version": version.version,
        "version_id": version.pk,
        "sha256": batch.sha256,
        "settings": batch.settings,
        "parameters": batch.parameters,
        "runs_total": batch.runs_total,
        "runs_succeeded": batch.runs_succeeded,
        "runs_failed": batch.runs_failed,
        "progress": batch.progress,
        "error_code": batch.error_code or None,
        "error_message": batch.error_message or None,
        "cost_credits": batch.cost_credits,
        "fmpy_version": batch.fmpy_version,
        "runs": request.build_absolute_uri(reverse("api-job-list")) + f"?batch={batch.pk}",
        "created_at": batch.created_at,
        "started_at": batch.started_at,
        "finished_at": batch.finished_at,
    }
    if batch.summary_csv_key:
        data["links"] = {
            "summary_csv": _absolute(request, "api-batch-summary-csv", pk=batch.pk),
            "plot": _absolute(request, "api-batch-plot", pk=batch.pk),
        }
    return data
