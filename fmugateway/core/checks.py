"""Django system checks for configuration that must be right before the product serves."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


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


@register(Tags.security, Tags.urls)
def every_api_operation_declares_its_scope(app_configs, **kwargs):
    from fmugateway.core.routes import api_operations
    from fmugateway.core.scopes import ScopeRequired, requirement

    problems = []
    for operation in api_operations():
        if ScopeRequired not in operation.view.permission_classes:
            problem = "does not keep ScopeRequired in permission_classes"
        elif requirement(operation.view, operation.method) is None:
            problem = "declares no scope"
        else:
            continue
        problems.append(
            Error(
                f"{operation} ({operation.view.__qualname__}) {problem}.",
                hint="Declare required_scopes = {METHOD: scope | public() | signed_in()} "
                "(fmugateway.core.scopes).",
                id="fmugateway.E010",
            )
        )
    return problems
