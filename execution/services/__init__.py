"""Execution's domain verbs; the API, pages, admin actions and tasks all call these.

version = resolve_version(user, package="ball", version="1.0.0")
job = submit_job(user, version, {"stop_time": 3, "start_values": {"h": 2}})
run_job(job.pk)              # in the worker (execution.tasks.run_job_task)
cancel_job(job, user); rerun_job(job, user)
batch = submit_batch(user, version, {"stop_time": 1, "grid": {"k": [1, 2, 3]}})
"""

from execution.services.batches import cancel_batch, finalize_batch, run_batch_chunk, submit_batch
from execution.services.job_settings import EffectiveSettings, SettingsInvalid, validate_settings
from execution.services.jobs import (
    cancel_job,
    recover_lost_jobs,
    rerun_job,
    resolve_version,
    run_job,
    submit_job,
)
from execution.services.run_access import may_run, register_run_rule

__all__ = [
    "EffectiveSettings",
    "SettingsInvalid",
    "cancel_batch",
    "cancel_job",
    "finalize_batch",
    "may_run",
    "recover_lost_jobs",
    "register_run_rule",
    "rerun_job",
    "resolve_version",
    "run_batch_chunk",
    "run_job",
    "submit_batch",
    "submit_job",
    "validate_settings",
]
