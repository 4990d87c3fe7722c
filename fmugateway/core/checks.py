"""Django system checks for configuration that must be right before the product serves."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.compatibility, deploy=True)
def embedded_defaults_in_production(app_configs, **kwargs):
    problems = []
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        problems.append(
            Warning(
                "Celery uses the embedded filesystem broker.",
                hint="Set REDIS_URL (or CELERY_BROKER_URL) for production deployments.",
                id="fmugateway.W001",
            )
        )
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        problems.append(
            Warning(
                "The database is the embedded SQLite file.",
                hint="Set DATABASE_URL to a PostgreSQL database for production deployments.",
                id="fmugateway.W002",
            )
        )
    if not settings.S3_BUCKET_NAME:
        problems.append(
            Warning(
                "Artifacts and results are stored on the local filesystem.",
                hint="Set S3_BUCKET_NAME when web and workers run on different machines.",
                id="fmugateway.W003",
            )
        )
    return problems
