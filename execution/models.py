"""Simulation jobs and batches (parameter sweeps).

A job records everything needed to reproduce its run exactly: the FMU by SHA-256, the
effective (validated, defaulted) settings, the inputs, the limits and the fmpy version.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Self, TypeVar

from django.conf import settings as django_settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from accounts.models import is_moderator
from registry.models import PackageVersion

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELLED}
)


#: Columns of a version (and its package) that runs and their API never read: the stored
#: modelDescription.xml, scan and inspection reports, texts. Megabytes for large models.
VERSION_BULK_FIELDS = (
    "model_description",
    "inspection",
    "scan_report",
    "attestation",
    "changelog",
    "package__description",
    "package__license_text",
)


_Run = TypeVar("_Run", "SimulationJob", "SimulationBatch")


class _RunQuerySet(models.QuerySet[_Run]):
    """What jobs and batches share: both are runs of a version, owned by a user."""

    def with_version(self) -> Self:
        """Joined with the version and its package, without their bulky columns."""
        return self.select_related("version__package").defer(
            *(f"version__{name}" for name in VERSION_BULK_FIELDS)
        )

    def visible_to(self, user: User | AnonymousUser) -> Self:
        """Your own jobs; every job for moderators; nothing for anonymous users."""
        if is_moderator(user):
            return self
        if getattr(user, "is_authenticated", False):
            return self.filter(owner=user)
        return self.none()

    def unfinished(self) -> Self:
        return self.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])


class SimulationJobQuerySet(_RunQuerySet["SimulationJob"]):
    pass


class SimulationBatchQuerySet(_RunQuerySet["SimulationBatch"]):
    pass


class SimulationBatch(models.Model):
    """A parameter sweep: one request fanned out into many runs (``SimulationJob`` rows)."""

    Status = JobStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="simulation_batches"
    )
    version = models.ForeignKey(PackageVersion, on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64)
    settings = models.JSONField(default=dict, help_text="Effective settings shared by all runs.")
    sweep = models.JSONField(default=dict, help_text="The request's list or grid, as given.")
    parameters = models.JSONField(default=list, blank=True, help_text="Swept variable names.")
    inputs = models.JSONField(null=True, blank=True, help_text="Input time series of every run.")
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    runs_total = models.PositiveIntegerField(default=0)
    runs_succeeded = models.PositiveIntegerField(default=0)
    runs_failed = models.PositiveIntegerField(default=0)
    summary_csv_key = models.CharField(max_length=500, blank=True)
    summary_json_key = models.CharField(max_length=500, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    cost_credits = models.BigIntegerField(null=True, blank=True)
    credit_reservation_id = models.BigIntegerField(null=True, blank=True)
    fmpy_version = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = SimulationBatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="exec_batch_owner_idx")]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.status})"

    @property
    def runs_finished(self) -> int:
        return self.runs_succeeded + self.runs_failed

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def progress(self) -> float:
        return round(self.runs_finished / self.runs_total, 4) if self.runs_total else 0.0


class SimulationJob(models.Model):
    """One simulation run, on its own or as run ``batch_index`` of a batch."""

    Status = JobStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="simulation_jobs"
    )
    version = models.ForeignKey(PackageVersion, on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64, help_text="The FMU file that was (to be) run.")
    batch = models.ForeignKey(
        SimulationBatch, null=True, blank=True, on_delete=models.CASCADE, related_name="runs"
    )
    batch_index = models.PositiveIntegerField(null=True, blank=True)
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    settings = models.JSONField(default=dict, help_text="Effective, validated settings.")
    inputs = models.JSONField(
        null=True, blank=True, help_text="Input time series as columns ('time' first)."
    )
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    log = models.TextField(blank=True, help_text="The FMU's log (bounded by the sandbox).")
    attempts = models.PositiveSmallIntegerField(default=0)
    claim_token = models.CharField(max_length=32, blank=True)
    # Measured usage.
    cpu_s = models.FloatField(null=True, blank=True)
    peak_rss_mb = models.FloatField(null=True, blank=True)
    wall_s = models.FloatField(null=True, blank=True)
    output_bytes = models.BigIntegerField(null=True, blank=True)
    # Results (keys in the ``results`` storage).
    result_rows = models.PositiveIntegerField(null=True, blank=True)
    result_columns = models.JSONField(default=list, blank=True)
    result_npy_key = models.CharField(max_length=500, blank=True)
    result_csv_key = models.CharField(max_length=500, blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True)
    result_stats = models.JSONField(
        default=dict, blank=True, help_text="Final, min and max of each recorded variable."
    )
    # Billing and reproduction.
    cost_credits = models.BigIntegerField(null=True, blank=True)
    credit_reservation_id = models.BigIntegerField(null=True, blank=True)
    # The license whose run quota paid for this job instead of credits (execute-only SKUs).
    license_id = models.BigIntegerField(null=True, blank=True)
    fmpy_version = models.CharField(max_length=32, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = SimulationJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="exec_job_owner_idx"),
            models.Index(
                fields=["status", "started_at"],
                name="exec_job_unfinished_idx",
                condition=Q(status__in=["queued", "running"]),
            ),
            models.Index(fields=["batch", "batch_index"], name="exec_job_batch_idx"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("job-detail", kwargs={"pk": self.pk})

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def timeout_seconds(self) -> int:
        return int(
            self.settings.get("timeout_seconds") or django_settings.JOB_DEFAULT_TIMEOUT_SECONDS
        )

    @property
    def usage(self) -> dict:
        return {
            "cpu_s": self.cpu_s,
            "peak_rss_mb": self.peak_rss_mb,
            "wall_s": self.wall_s,
            "output_bytes": self.output_bytes,
        }
