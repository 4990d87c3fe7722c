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


@register(Tags.security, deploy=True)
def artifacts_encryption_in_production(app_configs, **kwargs):
    problems = []
    if settings.ARTIFACT_MASTER_KEYS_GENERATED:
        problems.append(
            Error(
                "Stored FMUs are encrypted with a development key generated into var/secrets.",
                hint="Set ARTIFACT_MASTER_KEYS (or ARTIFACT_MASTER_KEYS_FILE); see README.",
                id="fmugateway.E020",
            )
        )
    if settings.S3_BUCKET_NAME and not settings.S3_SSE:
        problems.append(
            Warning(
                "S3 server-side encryption is not requested for the private storages.",
                hint="Set S3_SSE=aes256 or S3_SSE=aws:kms (with S3_SSE_KMS_KEY_ID).",
                id="fmugateway.W020",
            )
        )
    return problems


@register(Tags.database)
def artifact_data_keys_have_their_master_keys(app_configs, databases=None, **kwargs):
    """Run by ``migrate`` and ``check --database default``: a master key removed from
    ARTIFACT_MASTER_KEYS while data keys still need it makes those artifacts unreadable."""
    if not databases:
        return []
    from django.db import DatabaseError

    from fmugateway.core.storage import data_keys_by_master_key

    try:
        counts = data_keys_by_master_key()
    except DatabaseError:  # before the table's migration
        return []
    missing = {
        key_id: n for key_id, n in counts.items() if key_id not in settings.ARTIFACT_MASTER_KEYS
    }
    if not missing:
        return []
    listed = ", ".join(f"{key_id} ({n})" for key_id, n in sorted(missing.items()))
    return [
        Error(
            f"Stored artifacts are encrypted under master keys that ARTIFACT_MASTER_KEYS does "
            f"not hold: {listed}; they cannot be read.",
            hint="Put those keys back (after the current one), then run "
            "`manage.py rotate_artifact_keys` before removing them.",
            id="fmugateway.E021",
        )
    ]


#: Front-end libraries `make assets` installs from the npm registry (package-lock.json) into
#: static/vendor/; pages load them from our own static files.
VENDORED_ASSETS = ("vendor/uplot/uPlot.iife.min.js", "vendor/uplot/uPlot.min.css")


@register(Tags.staticfiles)
def front_end_assets_installed(app_configs, **kwargs):
    from django.contrib.staticfiles import finders

    missing = [path for path in VENDORED_ASSETS if not finders.find(path)]
    if not missing:
        return []
    return [
        Warning(
            f"Front-end assets are not installed: {', '.join(missing)}. Job pages fall back to "
            "the server-rendered plot (and collectstatic leaves them out).",
            hint="Run `make assets` (needs Node.js 18+ and npm: apt-get install nodejs npm).",
            id="fmugateway.W030",
        )
    ]
