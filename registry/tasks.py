from celery import shared_task

from registry.validation import run_validation


@shared_task(name="registry.validate_version", ignore_result=True, acks_late=True)
def validate_version(run_id: int) -> None:
    run_validation(run_id)
