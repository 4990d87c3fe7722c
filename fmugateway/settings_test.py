"""Test settings: the real settings module with a few test-only overrides.

Tests run on PostgreSQL (``DATABASE_URL``, default: the local server with trust auth) and, for
tests marked ``worker``, a real Celery worker on Redis (``REDIS_URL``).
"""

import os
from pathlib import Path

_BASE = Path(__file__).resolve().parent.parent
os.environ.setdefault("VAR_DIR", str(_BASE / "var" / "test"))
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("KEY_HASH_SECRET", "test-only-key-hash-secret-0123456789abcdef")
# A fixed key: the test worker process reads what the test process encrypted.
os.environ.setdefault("ARTIFACT_MASTER_KEYS", "test-1:dGVzdC1vbmx5LWFydGlmYWN0LW1hc3Rlci1rZXkhISE=")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fmugateway")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from fmugateway.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
# Tests read Celery calls from on_commit hooks (a task sent inside the test's transaction waits
# there: TransactionAwareTask); the real worker tests start their own process.
CELERY_TASK_ALWAYS_EAGER = False
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
ALLOW_GENERATED_SIGNING_KEYS = True  # tests generate throwaway keys under var/test
# dj-stripe's own migrations take ~90 s to apply (hundreds of RemoveFields re-render the model
# state); the test database gets the same tables from one generated migration instead. Production
# applies the package's migrations. Regenerate after upgrading dj-stripe:
#   rm billing/tests/djstripe_schema/migrations/0*.py && manage.py makemigrations djstripe
MIGRATION_MODULES = {"djstripe": "billing.tests.djstripe_schema.migrations"}
