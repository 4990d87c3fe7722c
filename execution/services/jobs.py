"""Simulation jobs: submit, run (in the worker), cancel, re-run, recover from lost workers."""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import secrets
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from execution import notify, results
from execution.models import VERSION_BULK_FIELDS, JobStatus, SimulationBatch, SimulationJob
from execution.services import charging
from execution.services.job_settings import (
    MAX_VERSION_ID,
    EffectiveSettings,
    SettingsInvalid,
    validate_settings,
)
from execution.services.run_access import may_run, run_block
from fmugateway.core.artifact_crypto import ArtifactIntegrityError, ArtifactKeyUnavailable
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError, ForbiddenError, NotFoundError
from registry.models import PackageVersion

if TYPE_CHECKING:
    import fmusandbox

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a job whose worker died is re-queued once, then failed (worker_lost)
CANCEL_POLL_SECONDS = 0.25
_SANDBOX_STATUS = {
    "succeeded": JobStatus.SUCCEEDED,
    "timed_out": JobStatus.TIMED_OUT,
    "failed": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELLED,
}


@functools.cache
def fmpy_version() -> str:
    try:
        return importlib.metadata.version("fmpy")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return ""


# --- submitting ------------------------------------------------------------------------------


def resolve_version(
    user: User | AnonymousUser,
    *,
    package: str | None = None,
    version: str | None = None,
    version_id: int | str | None = None,
) -> PackageVersion:
    """The version a request names (``package`` slug + ``version``, or ``version_id``) among
    those the user may see; 404 otherwise, or a run block's own error (451
    ``package_taken_down``: the package is hidden, but its buyers are told why)."""
    lookup: dict[str, int | str]
    if version_id not in (None, ""):
        lookup = {"pk": _version_pk(version_id)}
    elif package and version:
        lookup = {"package__slug": package, "version": version}
    else:
        raise DomainError(
            "Name the model: package and version, or version_id.",
            code="invalid_settings",
            fields={"version": [{"code": "required", "detail": "package + version required."}]},
        )
    queryset = PackageVersion.objects.select_related("package").defer(*VERSION_BULK_FIELDS)
    found = queryset.visible_to(user).filter(**lookup).first()
    if found is None:
        hidden = queryset.filter(**lookup).first()
        if hidden is not None and (blocked := run_block(user, hidden)) is not None:
            raise blocked
        raise NotFoundError("No such model version.", code="version_not_found")
    return found


def _version_pk(value: Any) -> int:
    """``version_id`` as sent (a JSON integer, or digits in a form field), within bigint."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_VERSION_ID:
        raise SettingsInvalid(
            fields={
                "version_id": [
                    {"code": "invalid_number", "detail": "Give a version id: a whole number."}
                ]
            }
        )
    return value


def require_may_run(user: User | AnonymousUser, version: PackageVersion) -> None:
    if (blocked := run_block(user, version)) is not None:
        raise blocked
    if not may_run(user, version):
        if charging.spent_license_quota(user, version):
            from licensing.entitlements import RunQuotaExhausted

            raise RunQuotaExhausted("Your license for this model has no runs left.")
        raise ForbiddenError("You may not run this model.", code="run_forbidden")


def submit_job(
    user: User,
    version: PackageVersion,
    data: Mapping[str, Any],
    *,
    rerun_of: SimulationJob | None = None,
) -> SimulationJob:
    """Validate, reserve credits and queue one simulation.

    Guarantees: on any error (settings 400, not allowed 403, insufficient credits 402) no job
    exists and nothing is charged; otherwise the job is queued on the ``simulations`` queue
    once the transaction commits.
    """
    require_may_run(user, version)
    effective = validate_settings(version, data, user=user)
    from execution.tasks import run_job_task

    job = SimulationJob(
        owner=user,
        version=version,
        sha256=version.sha256,
        settings=effective.to_dict(),
        inputs=effective.inputs,
        rerun_of=rerun_of,
    )
    with transaction.atomic():
        # Paid for first (the id is known before the row exists), so the row is written once.
        license_id = charging.license_paying_for(user, version)
        if license_id is not None:
            charging.take_license_run(license_id, f"job:{job.pk}")
            job.license_id = license_id
        else:
            job.credit_reservation_id = charging.reserve(
                user, version, f"job:{job.pk}", [effective.timeout_seconds]
            )
        job.save(force_insert=True)
        run_job_task.apply_async((str(job.pk),), **task_options(effective.timeout_seconds))
    return job


def task_options(timeout_seconds: int) -> dict[str, Any]:
    # The sandbox ends a run at its timeout; the task limits are only a backstop above it.
    return {
        "queue": "simulations",
        "soft_time_limit": timeout_seconds + 60,
        "time_limit": timeout_seconds + 90,
    }


def rerun_job(job: SimulationJob, user: User) -> SimulationJob:
    """Queue the same FMU with the job's recorded settings and inputs (a new job)."""
    version = PackageVersion.objects.select_related("package").get(pk=job.version_id)
    if version.sha256 != job.sha256:  # pragma: no cover - versions are immutable
        raise ConflictError("The model file changed since this job ran.", code="fmu_changed")
    data = dict(job.settings)
    if job.inputs:
        data["inputs"] = job.inputs
    new = submit_job(user, version, data, rerun_of=job)
    record("execution.job.rerun", actor=user, target=new, after={"rerun_of": str(job.pk)})
    return new


def require_owner(job: SimulationJob | SimulationBatch, user: User | AnonymousUser) -> None:
    """The jobs API acts for a job's (or batch's) owner only: moderators see every job but
    cancel through the admin's actions."""
    if job.owner_id != getattr(user, "pk", None):
        kind = "batch" if isinstance(job, SimulationBatch) else "job"
        raise ForbiddenError(f"Only the {kind}'s owner can do this.", code=f"not_{kind}_owner")


def cancel_job(job: SimulationJob, user: User) -> SimulationJob:
    """Cancel a queued or running job (a running one's run is killed by its worker, which
    watches the row: see ``CancelWatcher``; the worker's sandbox stays warm).

    Idempotent for cancelled jobs; 409 ``job_finished`` for jobs that already ended.
    """
    now = timezone.now()
    with transaction.atomic():
        queued = SimulationJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.CANCELLED,
            error_code="cancelled",
            error_message="Cancelled before it started.",
            finished_at=now,
        )
        running = 0
        if not queued:
            running = SimulationJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
                status=JobStatus.CANCELLED,
                error_code="cancelled",
                error_message="Cancelled while running.",
                finished_at=now,
            )
        job.refresh_from_db()
        if not (queued or running):
            if job.status == JobStatus.CANCELLED:
                return job
            raise ConflictError("This job has already finished.", code="job_finished")
        if queued and job.batch_id is None:
            charging.release(job.credit_reservation_id)
            charging.give_back_license_run(job.license_id, f"job:{job.pk}")
            SimulationJob.objects.filter(pk=job.pk).update(cost_credits=0)
        notify.jobs_ended([job.pk])
        record(
            "execution.job.cancelled",
            actor=user,
            target=job,
            after={"was": "queued" if queued else "running"},
        )
    if queued and job.batch_id is not None:
        from execution.services.batches import count_finished_runs

        count_finished_runs(job.batch_id, succeeded=0, failed=1)
    return job


# --- running (in the worker) -------------------------------------------------------------------


def claim(job_ids: list[str], worker: str = "") -> tuple[str, int]:
    """Atomically take queued jobs (or ones whose worker died, below MAX_ATTEMPTS)."""
    token = secrets.token_hex(8)
    claimed = SimulationJob.objects.filter(
        Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, attempts__lt=MAX_ATTEMPTS),
        pk__in=job_ids,
    ).update(
        status=JobStatus.RUNNING,
        started_at=timezone.now(),
        attempts=F("attempts") + 1,
        claim_token=token,
        worker=worker[:255],
        fmpy_version=fmpy_version(),
    )
    return token, claimed


def _worker_name() -> str:
    return f"{socket.gethostname()}:{threading.get_native_id()}"


class CancelWatcher:
    """While a run is in progress, watch for its cancellation and kill just that run.

    Checks the database only after the first ``poll_seconds``: short runs cost nothing. On
    cancellation it cancels ``token`` (pass it to the sandbox run), which kills the run's
    process tree; the worker's sandbox and its zygote stay warm for the next task.
    """

    def __init__(
        self, is_cancelled: Callable[[], bool], poll_seconds: float = CANCEL_POLL_SECONDS
    ) -> None:
        from fmusandbox import CancelToken

        self._is_cancelled = is_cancelled
        self._poll_seconds = poll_seconds
        self._done = threading.Event()
        self.token = CancelToken()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="job-cancel-watch")

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    def __enter__(self) -> CancelWatcher:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        used_db = False
        try:
            while not self._done.wait(self._poll_seconds):
                used_db = True
                if self._is_cancelled():
                    self.token.cancel()
                    return
        except Exception:  # never let the watcher take the run down
            logger.exception("cancel watcher failed")
        finally:
            if used_db:
                connection.close()  # this thread's own connection


def sandbox_limits(timeout_seconds: int) -> fmusandbox.SandboxLimits:
    from fmugateway.core.sandbox import default_limits

    return default_limits(
        wall_seconds=float(timeout_seconds), cpu_seconds=charging.cpu_limit(timeout_seconds)
    )


def simulate(
    version: PackageVersion,
    sha256: str,
    effective: EffectiveSettings,
    fmu_path: Path,
    cancel: fmusandbox.CancelToken | None = None,
) -> dict[str, Any]:
    from fmugateway.core.sandbox import run_sandboxed

    return run_sandboxed(
        fmu_path,
        sha256,
        limits=sandbox_limits(effective.timeout_seconds),
        cancel=cancel,
        **effective.simulation_kwargs(),
    )


def outcome_fields(outcome: dict[str, Any]) -> dict[str, Any]:
    summary = outcome["summary"]
    usage = summary.get("usage") or {}
    status = _SANDBOX_STATUS.get(summary.get("status"), JobStatus.FAILED)
    return {
        "status": status,
        "error_code": "" if status == JobStatus.SUCCEEDED else (summary.get("code") or "failed"),
        "error_message": "" if status == JobStatus.SUCCEEDED else summary.get("message") or "",
        "log": outcome.get("log") or "",
        "cpu_s": usage.get("cpu_s"),
        "peak_rss_mb": usage.get("peak_rss_mb"),
        "wall_s": usage.get("wall_s"),
        "output_bytes": usage.get("output_bytes"),
    }


def run_job(job_id: str) -> SimulationJob | None:
    """Run a queued job to its end; ``None`` when it is not claimable (done, cancelled, or
    owned by another attempt). Never raises for problems of the FMU."""
    token, claimed = claim([job_id], _worker_name())
    if not claimed:
        return None
    job = SimulationJob.objects.with_version().get(pk=job_id)
    effective = EffectiveSettings.from_job(job.settings, job.inputs)
    stored: results.StoredResult | None = None

    def is_cancelled() -> bool:
        return SimulationJob.objects.filter(pk=job.pk, status=JobStatus.CANCELLED).exists()

    try:
        from fmugateway.core.storage import local_copy

        with (
            local_copy("artifacts", job.version.artifact_key, ".fmu") as fmu_path,
            CancelWatcher(is_cancelled) as watcher,
        ):
            outcome = simulate(job.version, job.sha256, effective, fmu_path, watcher.token)
        fields = outcome_fields(outcome)
        if outcome["result"] is not None:
            stored = results.store_result(f"jobs/{job.pk}", outcome["result"])
            fields.update(
                result_npy_key=stored.npy_key,
                result_csv_key=stored.csv_key,
                result_sha256=stored.sha256,
                result_rows=stored.rows,
                result_columns=stored.columns,
                result_stats=results.column_stats(outcome["result"]),
            )
    except (ArtifactIntegrityError, ArtifactKeyUnavailable) as exc:
        # The stored FMU was refused before anything ran (the message names no storage key).
        fields = {
            "status": JobStatus.FAILED,
            "error_code": exc.code,
            "error_message": type(exc).detail,
        }
    except Exception as exc:
        logger.exception("job %s failed on the platform's side", job.pk)
        fields = {
            "status": JobStatus.FAILED,
            "error_code": "internal_error",
            "error_message": f"The platform failed to run this job ({type(exc).__name__}).",
        }
    finish_job(job, token, fields, stored)
    job.refresh_from_db()
    return job


USAGE_FIELDS = frozenset({"cpu_s", "peak_rss_mb", "wall_s", "output_bytes", "log"})


def finish_job(
    job: SimulationJob,
    token: str,
    fields: dict[str, Any],
    stored: results.StoredResult | None,
    *,
    announce: bool = True,
) -> bool:
    """Record a run's outcome unless another attempt owns the job, then settle its credits.

    The outcome is written first (one conditional UPDATE), so results are readable at once;
    credits are settled right after (``settle_job_credits``; the recovery task settles any job
    whose worker died in between). A job cancelled while running keeps ``cancelled``, drops
    its results and gets its usage recorded. ``announce=False``: the caller wakes the job's
    waiters itself (``notify.jobs_ended``, e.g. once for many batch runs).
    """
    mine = SimulationJob.objects.filter(pk=job.pk, claim_token=token)
    finished = mine.filter(status=JobStatus.RUNNING).update(**fields, finished_at=timezone.now())
    cancelled = 0
    if not finished:
        fields = {key: value for key, value in fields.items() if key in USAGE_FIELDS}
        cancelled = mine.update(**fields)
    if stored is not None and not finished:
        results.delete_quietly(stored.npy_key, stored.csv_key)
    if finished and announce:
        notify.jobs_ended([job.pk])  # before settling: the results are readable already
    if job.batch_id is None and (finished or cancelled):
        settle_job_credits(job.pk, job.credit_reservation_id, fields, job.license_id)
    return bool(finished or cancelled)


def settle_job_credits(
    job_id: uuid.UUID | str,
    reservation_id: int | None,
    fields: Mapping[str, Any],
    license_id: int | None,
) -> None:
    """Charge the measured usage, or release everything when the platform failed the job.

    Idempotent (billing closes a reservation once)."""
    platform_failed = (
        fields.get("error_code") in charging.PLATFORM_ERROR_CODES or fields.get("cpu_s") is None
    )
    cost: int | None
    if license_id is not None:
        if platform_failed:
            charging.give_back_license_run(license_id, f"job:{job_id}")
        cost = 0
    elif platform_failed:
        charging.release(reservation_id)
        cost = 0
    else:
        cost = charging.settle(reservation_id, [fields])
    SimulationJob.objects.filter(pk=job_id).update(cost_credits=cost)


# --- recovery ----------------------------------------------------------------------------------


def recover_lost_jobs(now: datetime | None = None) -> dict[str, int]:
    """Jobs still ``running`` past their timeout plus grace lost their worker: re-queue them
    once, then fail them with ``worker_lost`` (credits released). Run by beat every minute."""
    from execution.tasks import run_batch_chunk_task, run_job_task

    now = now or timezone.now()
    grace = timedelta(seconds=settings.JOB_RECOVERY_GRACE_SECONDS)
    requeued = failed = 0
    batch_requeues: dict[str, list[str]] = {}
    batch_failures: dict[str, int] = {}
    stale = SimulationJob.objects.filter(status=JobStatus.RUNNING, started_at__lt=now - grace).only(
        "pk",
        "settings",
        "attempts",
        "claim_token",
        "started_at",
        "batch_id",
        "credit_reservation_id",
        "license_id",
    )
    for job in stale:
        assert job.started_at is not None  # filtered on it
        if job.started_at + timedelta(seconds=job.timeout_seconds) + grace > now:
            continue
        with transaction.atomic():
            if job.attempts < MAX_ATTEMPTS:
                changed = SimulationJob.objects.filter(
                    pk=job.pk, status=JobStatus.RUNNING, claim_token=job.claim_token
                ).update(status=JobStatus.QUEUED, claim_token="")
                if not changed:
                    continue
                requeued += 1
                if job.batch_id is None:
                    run_job_task.apply_async((str(job.pk),), **task_options(job.timeout_seconds))
                else:
                    batch_requeues.setdefault(str(job.batch_id), []).append(str(job.pk))
            else:
                changed = SimulationJob.objects.filter(
                    pk=job.pk, status=JobStatus.RUNNING, claim_token=job.claim_token
                ).update(
                    status=JobStatus.FAILED,
                    error_code="worker_lost",
                    error_message=(
                        "The worker running this job stopped responding twice; "
                        "no credits were charged."
                    ),
                    finished_at=now,
                )
                if not changed:
                    continue
                failed += 1
                notify.jobs_ended([job.pk])
                if job.batch_id is None:
                    charging.release(job.credit_reservation_id)
                    charging.give_back_license_run(job.license_id, f"job:{job.pk}")
                    SimulationJob.objects.filter(pk=job.pk).update(cost_credits=0)
                else:
                    batch_failures[str(job.batch_id)] = batch_failures.get(str(job.batch_id), 0) + 1
            record(
                "execution.job.recovered",
                target=job,
                after={"action": "requeued" if job.attempts < MAX_ATTEMPTS else "failed"},
            )
    for batch_id, job_ids in batch_requeues.items():
        batch = SimulationBatch.objects.only("settings").get(pk=batch_id)
        timeout = int(batch.settings.get("timeout_seconds") or settings.JOB_DEFAULT_TIMEOUT_SECONDS)
        run_batch_chunk_task.apply_async(
            (batch_id, job_ids), **task_options(timeout * len(job_ids))
        )
    if batch_failures:
        from execution.services.batches import count_finished_runs

        for batch_id, count in batch_failures.items():
            count_finished_runs(batch_id, succeeded=0, failed=count)
    settled = 0
    unsettled = SimulationJob.objects.filter(
        batch__isnull=True,
        status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMED_OUT],
        cost_credits__isnull=True,
        credit_reservation_id__isnull=False,
        finished_at__lt=now - grace,
    ).only(
        "pk", "credit_reservation_id", "license_id", "error_code", "cpu_s", "peak_rss_mb", "wall_s"
    )
    for job in unsettled:
        settle_job_credits(
            job.pk,
            job.credit_reservation_id,
            job.usage | {"error_code": job.error_code},
            job.license_id,
        )
        settled += 1
    result = {"requeued": requeued, "failed": failed}
    if settled:
        result["settled"] = settled
    return result


def requeue_job(job: SimulationJob, actor: User | None) -> SimulationJob:
    """Operator action: dispatch a queued or stuck running standalone job again.

    Safe to repeat: the worker's claim runs a job at most once per attempt.
    """
    from execution.tasks import run_job_task

    if job.batch_id is not None:
        raise ConflictError("Batch runs are re-queued with their batch.", code="batch_run")
    with transaction.atomic():
        SimulationJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.QUEUED, claim_token=""
        )
        job.refresh_from_db()
        if job.status != JobStatus.QUEUED:
            raise ConflictError(
                "Only queued or running jobs can be re-queued.", code="job_finished"
            )
        record("execution.job.requeued", actor=actor, target=job)
        run_job_task.apply_async((str(job.pk),), **task_options(job.timeout_seconds))
    return job
