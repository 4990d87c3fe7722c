"""Parameter sweeps: one request, many runs, a summary table.

A batch's runs are ``SimulationJob`` rows (so each run has its own status and results). They are
executed in chunks of ``SWEEP_CHUNK_SIZE`` runs per Celery task: one claim query per chunk, and
the chunk's runs go in groups through ``Sandbox.run_many`` (one sandbox per group, the group's
runs back to back in one process: they all belong to the batch's owner and run its one model) in
the worker's warm sandbox, with its extracted-FMU cache. The chunk that finishes the last run
writes the summary (final, min and max of each output per run) as CSV and JSON and settles the
batch's credits once."""

from __future__ import annotations

import itertools
import json
import logging
import time
import uuid
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from execution import notify, results
from execution.models import FINISHED_STATUSES, JobStatus, SimulationBatch, SimulationJob
from execution.services import charging
from execution.services.job_settings import (
    EffectiveSettings,
    SettingsInvalid,
    _Catalog,
    _settable,
    coerce_value,
    validate_settings,
)
from execution.services.jobs import (
    CancelWatcher,
    _worker_name,
    claim,
    finish_job,
    fmpy_version,
    outcome_fields,
    require_may_run,
    sandbox_limits,
    simulate,
    task_options,
)
from fmugateway.core.artifact_crypto import ArtifactIntegrityError, ArtifactKeyUnavailable
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError
from fmusandbox.runner import MAX_RUNS_PER_SANDBOX
from registry.models import PackageVersion

logger = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 1.0
#: The first group of a chunk is small: it shows how long this model's runs take. Later groups
#: hold about GROUP_SECONDS of runs, so progress is still written about once a second.
FIRST_GROUP_RUNS = 2
GROUP_SECONDS = 1.0
MAX_GROUP_RUNS = MAX_RUNS_PER_SANDBOX


def max_runs(user: User | AnonymousUser) -> int:
    from billing.services import plan_for

    return min(settings.SWEEP_MAX_RUNS, plan_for(user).max_sweep_size)


def _invalid(field: str, code: str, detail: str, key: str | None = None) -> SettingsInvalid:
    entry = [{"code": code, "detail": detail}]
    return SettingsInvalid(fields={field: {key: entry} if key else entry})


def expand_sweep(
    version: PackageVersion, sweep: Mapping[str, Any], limit: int, catalog: _Catalog
) -> tuple[list[str], list[dict[str, Any]]]:
    """The runs' start values from ``{"grid": {name: [values]}}`` or ``{"runs": [{...}]}``;
    every name and value is checked like a job's start values. Returns (names, runs)."""
    grid, runs = sweep.get("grid"), sweep.get("runs")
    if (grid is None) == (runs is None):
        raise _invalid("grid", "required", "Give either grid (name -> values) or runs (a list).")

    def check(field: str, name: str, value: Any, key: str | None = None) -> Any:
        variable = catalog.by_name.get(name)
        if variable is None:
            raise _invalid(field, "unknown_variable", "No such variable.", key or name)
        if not _settable(variable, version.fmi_version):
            raise _invalid(field, "not_settable", f"{name} cannot be set.", key or name)
        coerced, error = coerce_value(variable, value)
        if error:
            raise _invalid(field, error[0], error[1], key or name)
        return coerced

    if grid is not None:
        if not isinstance(grid, Mapping) or not grid:
            raise _invalid("grid", "invalid_type", "Give an object of names to lists of values.")
        count = 1
        for name, values in grid.items():
            if not isinstance(values, list) or not values:
                raise _invalid("grid", "invalid_type", "Give a non-empty list.", name)
            count *= len(values)
        if count > limit:
            raise _invalid("grid", "too_many_runs", f"{count} runs; at most {limit}.")
        names = list(grid)
        axes = [[check("grid", name, value) for value in grid[name]] for name in names]
        return names, [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]

    if not isinstance(runs, list) or not runs:
        raise _invalid("runs", "invalid_type", "Give a non-empty list of start-value objects.")
    if len(runs) > limit:
        raise _invalid("runs", "too_many_runs", f"{len(runs)} runs; at most {limit}.")
    run_names: list[str] = []
    expanded = []
    for index, run in enumerate(runs):
        if not isinstance(run, Mapping):
            raise _invalid("runs", "invalid_type", "Each run is an object.", str(index))
        expanded.append(
            {name: check("runs", name, value, str(index)) for name, value in run.items()}
        )
        run_names.extend(name for name in run if name not in run_names)
    return run_names, expanded


def submit_batch(user: User, version: PackageVersion, data: Mapping[str, Any]) -> SimulationBatch:
    """Validate the shared settings and every run, reserve the credits of all runs and queue
    them in chunks. On any error nothing exists and nothing is charged."""
    require_may_run(user, version)
    data = dict(data)
    sweep: dict[str, Any] = {key: data.pop(key) for key in ("grid", "runs") if key in data}
    catalog = _Catalog(version)
    base = validate_settings(version, data, user=user, catalog=catalog)
    names, runs = expand_sweep(version, sweep, max_runs(user), catalog)
    from execution.tasks import run_batch_chunk_task

    base_settings = base.to_dict()
    with transaction.atomic():
        batch = SimulationBatch.objects.create(
            owner=user,
            version=version,
            sha256=version.sha256,
            settings=base_settings,
            sweep=sweep,
            parameters=names,
            inputs=base.inputs,
            runs_total=len(runs),
            fmpy_version=fmpy_version(),
        )
        jobs = [
            SimulationJob(
                owner=user,
                version=version,
                sha256=version.sha256,
                batch=batch,
                batch_index=index,
                settings={**base_settings, "start_values": {**base.start_values, **values}},
            )
            for index, values in enumerate(runs)
        ]
        SimulationJob.objects.bulk_create(jobs, batch_size=500)
        batch.credit_reservation_id = charging.reserve(
            user, version, f"batch:{batch.pk}", [base.timeout_seconds] * len(runs)
        )
        SimulationBatch.objects.filter(pk=batch.pk).update(
            credit_reservation_id=batch.credit_reservation_id
        )
        size = settings.SWEEP_CHUNK_SIZE
        for start in range(0, len(jobs), size):
            chunk = [str(job.pk) for job in jobs[start : start + size]]
            run_batch_chunk_task.apply_async(
                (str(batch.pk), chunk), **task_options(base.timeout_seconds * len(chunk))
            )
        record(
            "execution.batch.submitted",
            actor=user,
            target=batch,
            after={"runs": len(runs), "version": version.pk},
        )
    return batch


def run_batch_chunk(batch_id: str, job_ids: list[str]) -> tuple[int, int]:
    """Run the claimable runs among ``job_ids``; returns (ok, failed).

    The runs go through the sandbox in groups (``Sandbox.run_many``: one sandbox per group).
    Outcomes are written and progress counted about once a second; a cancelled batch stops
    at once: the run in progress is killed and it and the chunk's remaining runs are
    marked cancelled.
    """
    batch = SimulationBatch.objects.with_version().get(pk=batch_id)
    if batch.status == JobStatus.CANCELLED:
        return 0, 0
    token, claimed = claim(job_ids, _worker_name())
    if not claimed:
        return 0, 0
    SimulationBatch.objects.filter(pk=batch.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )
    runs = list(
        SimulationJob.objects.filter(pk__in=job_ids, claim_token=token)
        .only("pk", "settings", "inputs", "batch_index", "batch_id")
        .order_by("batch_index")
    )
    totals = [0, 0]  # succeeded, failed
    pending: list[tuple[SimulationJob, dict[str, Any], results.StoredResult | None]] = []
    from fmugateway.core.storage import local_copy

    def flush() -> None:
        # One transaction (one commit) for the runs done since the last flush, then progress.
        ok = bad = 0
        with transaction.atomic():
            for run, fields, stored in pending:
                if finish_job(run, token, fields, stored, announce=False):
                    if fields.get("status") == JobStatus.SUCCEEDED:
                        ok += 1
                    else:
                        bad += 1
            notify.jobs_ended(run.pk for run, _, _ in pending)
        pending.clear()
        totals[0] += ok
        totals[1] += bad
        count_finished_runs(batch.pk, succeeded=ok, failed=bad)

    def batch_cancelled() -> bool:
        return SimulationBatch.objects.filter(pk=batch.pk, status=JobStatus.CANCELLED).exists()

    position = 0
    with ExitStack() as stack:
        try:
            fmu_path = stack.enter_context(
                local_copy("artifacts", batch.version.artifact_key, ".fmu")
            )
        except (ArtifactIntegrityError, ArtifactKeyUnavailable) as exc:
            # The stored FMU was refused before anything ran: every run fails, uncharged.
            refused = {
                "status": JobStatus.FAILED,
                "error_code": exc.code,
                "error_message": type(exc).detail,  # names no storage key
            }
            pending.extend((run, dict(refused), None) for run in runs)
            flush()
            return totals[0], totals[1]
        watcher = stack.enter_context(
            CancelWatcher(batch_cancelled, poll_seconds=CANCEL_CHECK_SECONDS)
        )
        size, flushed_at = FIRST_GROUP_RUNS, time.monotonic()
        while position < len(runs) and not watcher.cancelled:
            group = runs[position : position + size]
            started = time.monotonic()
            done = [item for item in _run_group(batch, group, fmu_path, watcher) if item[1]]
            pending.extend(done)  # a cancelled run and those after it are not "done"
            position += len(done)
            if len(done) < len(group):
                break
            per_run = (time.monotonic() - started) / len(group)
            size = max(1, min(MAX_GROUP_RUNS, int(GROUP_SECONDS / max(per_run, 1e-3))))
            if time.monotonic() - flushed_at > CANCEL_CHECK_SECONDS:
                flush()
                flushed_at = time.monotonic()
        flush()
    if position < len(runs):  # the batch was cancelled meanwhile
        cancelled = _cancel_claimed(runs[position:], token)
        totals[1] += cancelled
        count_finished_runs(batch.pk, succeeded=0, failed=cancelled)
    return totals[0], totals[1]


def _run_group(
    batch: SimulationBatch, runs: list[SimulationJob], fmu_path: Path, watcher: CancelWatcher
) -> list[tuple[SimulationJob, dict[str, Any], results.StoredResult | None]]:
    """Simulate runs of the batch in one sandbox; their outcomes are written by the caller
    (batched per flush). A run killed by the batch's cancellation gets empty fields."""
    try:
        effective = [
            EffectiveSettings.from_job(run.settings, run.inputs or batch.inputs) for run in runs
        ]
        outcomes = _simulate_group(batch, effective, fmu_path, watcher)
    except Exception as exc:
        logger.exception("batch runs of %s failed on the platform's side", batch.pk)
        return [(run, _internal_error(exc), None) for run in runs]
    done: list[tuple[SimulationJob, dict[str, Any], results.StoredResult | None]] = []
    for run, outcome in zip(runs, outcomes, strict=True):
        if outcome["summary"].get("code") == "cancelled":
            done.append((run, {}, None))
        else:
            done.append(_store_outcome(batch, run, outcome))
    return done


def _simulate_group(
    batch: SimulationBatch,
    effective: list[EffectiveSettings],
    fmu_path: Path,
    watcher: CancelWatcher,
) -> list[dict[str, Any]]:
    from fmugateway.core.sandbox import run_sandboxed_many

    outcomes: list[dict[str, Any] | None] = [None] * len(effective)
    by_timeout: dict[int, list[int]] = {}  # a batch's runs share their settings but not values
    for index, settings_ in enumerate(effective):
        by_timeout.setdefault(settings_.timeout_seconds, []).append(index)
    for timeout, indices in by_timeout.items():
        group = run_sandboxed_many(
            fmu_path,
            batch.sha256,
            [effective[i].simulation_kwargs() for i in indices],
            limits=sandbox_limits(timeout),
            cancel=watcher.token,
        )
        for index, outcome in zip(indices, group, strict=True):
            if outcome["summary"].get("code") == "not_run":  # never started: run it alone
                outcome = simulate(
                    batch.version, batch.sha256, effective[index], fmu_path, watcher.token
                )
            outcomes[index] = outcome
    return outcomes  # type: ignore[return-value]


def _store_outcome(
    batch: SimulationBatch, run: SimulationJob, outcome: dict[str, Any]
) -> tuple[SimulationJob, dict[str, Any], results.StoredResult | None]:
    stored = None
    try:
        fields = outcome_fields(outcome)
        if outcome["result"] is not None:
            array = outcome["result"]
            stored = results.store_result(
                f"batches/{batch.pk}/runs/{run.batch_index}", array, with_csv=False
            )
            fields.update(
                result_npy_key=stored.npy_key,
                result_sha256=stored.sha256,
                result_rows=stored.rows,
                result_columns=stored.columns,
                result_stats=results.column_stats(array),
            )
    except Exception as exc:
        logger.exception("batch run %s failed on the platform's side", run.pk)
        fields = _internal_error(exc)
    return run, fields, stored


def _internal_error(exc: Exception) -> dict[str, Any]:
    return {
        "status": JobStatus.FAILED,
        "error_code": "internal_error",
        "error_message": f"The platform failed to run this job ({type(exc).__name__}).",
    }


def _cancel_claimed(runs: list[SimulationJob], token: str) -> int:
    ids = [run.pk for run in runs]
    cancelled = SimulationJob.objects.filter(
        pk__in=ids, claim_token=token, status=JobStatus.RUNNING
    ).update(
        status=JobStatus.CANCELLED,
        error_code="cancelled",
        error_message="The batch was cancelled.",
        finished_at=timezone.now(),
    )
    notify.jobs_ended(ids)
    return cancelled


def count_finished_runs(batch_id: uuid.UUID | str, *, succeeded: int, failed: int) -> None:
    """Add finished runs to the batch's progress; the call that completes it finalises it."""
    if not (succeeded or failed):
        return
    with transaction.atomic():
        batch = SimulationBatch.objects.select_for_update().get(pk=batch_id)
        before = batch.runs_finished
        batch.runs_succeeded += succeeded
        batch.runs_failed += failed
        SimulationBatch.objects.filter(pk=batch.pk).update(
            runs_succeeded=batch.runs_succeeded, runs_failed=batch.runs_failed
        )
        completes = before < batch.runs_total <= batch.runs_finished
        notify.batch_progressed(batch.pk)
    if completes:
        finalize_batch(batch.pk)


def summary_table(batch: SimulationBatch) -> tuple[list[str], list[list[Any]], list[str]]:
    """(header, rows, outputs): per run its swept values, status and final/min/max per output."""
    runs = list(
        SimulationJob.objects.filter(batch=batch)
        .order_by("batch_index")
        .values_list("batch_index", "status", "error_code", "settings", "result_stats")
    )
    outputs: list[str] = []
    for *_, stats in runs:
        for name in stats or {}:
            if name not in outputs:
                outputs.append(name)
    parameters = list(batch.parameters or [])
    header = ["run", "status", "error_code", *parameters]
    for name in outputs:
        header += [f"{name}.final", f"{name}.min", f"{name}.max"]
    rows = []
    for index, status, error_code, run_settings, stats in runs:
        values = (run_settings or {}).get("start_values", {})
        row: list[Any] = [index, status, error_code, *[values.get(name) for name in parameters]]
        for name in outputs:
            entry = (stats or {}).get(name) or {}
            row += [entry.get("final"), entry.get("min"), entry.get("max")]
        rows.append(row)
    return header, rows, outputs


def finalize_batch(batch_id: uuid.UUID | str) -> SimulationBatch:
    """Write the summary, settle the credits of the runs (platform failures are free) and
    set the batch's final status. Idempotent."""
    batch = SimulationBatch.objects.get(pk=batch_id)
    header, rows, _ = summary_table(batch)
    prefix = f"batches/{batch.pk}"
    csv_key = results.save(f"{prefix}/summary.csv", results.table_csv_bytes(header, rows))
    json_key = results.save(
        f"{prefix}/summary.json",
        json.dumps({"columns": header, "rows": rows}, allow_nan=False, default=str).encode(),
    )
    usages = list(
        SimulationJob.objects.filter(batch=batch)
        .exclude(error_code__in=charging.PLATFORM_ERROR_CODES)
        .exclude(cpu_s__isnull=True)
        .values("cpu_s", "peak_rss_mb", "wall_s")
    )
    with transaction.atomic():
        locked = SimulationBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.summary_csv_key:  # finalised by someone else meanwhile
            results.delete_quietly(csv_key, json_key)
            return locked
        cost = charging.settle(locked.credit_reservation_id, usages) if usages else None
        if not usages:
            charging.release(locked.credit_reservation_id)
        status = locked.status
        error_code = error_message = ""
        if status != JobStatus.CANCELLED:
            status = JobStatus.SUCCEEDED if locked.runs_succeeded else JobStatus.FAILED
            if not locked.runs_succeeded:
                error_code, error_message = "all_runs_failed", "Every run of this batch failed."
        SimulationBatch.objects.filter(pk=batch.pk).update(
            status=status,
            error_code=error_code,
            error_message=error_message,
            summary_csv_key=csv_key,
            summary_json_key=json_key,
            cost_credits=cost,
            finished_at=timezone.now(),
        )
        notify.batch_progressed(batch.pk)
    batch.refresh_from_db()
    return batch


def cancel_batch(batch: SimulationBatch, user: User) -> SimulationBatch:
    """Cancel a batch: queued runs never start; running chunks notice within about a second
    and kill their run in progress (it and their remaining runs end ``cancelled``)."""
    now = timezone.now()
    with transaction.atomic():
        changed = SimulationBatch.objects.filter(
            pk=batch.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).update(status=JobStatus.CANCELLED, error_code="cancelled")
        if not changed:
            batch.refresh_from_db()
            if batch.status == JobStatus.CANCELLED:
                return batch
            raise ConflictError("This batch has already finished.", code="batch_finished")
        queued = SimulationJob.objects.filter(batch=batch, status=JobStatus.QUEUED)
        ids = list(queued.values_list("pk", flat=True))
        cancelled = queued.filter(pk__in=ids).update(
            status=JobStatus.CANCELLED,
            error_code="cancelled",
            error_message="The batch was cancelled.",
            finished_at=now,
        )
        notify.jobs_ended(ids)
        record("execution.batch.cancelled", actor=user, target=batch)
    count_finished_runs(batch.pk, succeeded=0, failed=cancelled)
    batch.refresh_from_db()
    return batch


def unfinished(batch: SimulationBatch) -> bool:
    return batch.status not in FINISHED_STATUSES
