"""FMU Gateway settings.

Every value comes from the environment through the typed helpers in ``fmugateway.env``; the
README's configuration table and ``.env.example`` document each one. With no environment at all
the product runs on embedded defaults: SQLite and files under ``var/``, and a Celery broker on the
local filesystem.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured

from fmugateway.env import (
    dev_secret,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
    parse_key_ring,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)

# --- Secrets -------------------------------------------------------------------------------
_secret_key = env_secret("SECRET_KEY")
USING_DEVELOPMENT_SECRET = _secret_key is None
if _secret_key is None:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is false. "
            "For local development run with DEBUG=true (make run does)."
        )
    _secret_key = dev_secret(VAR_DIR, "secret_key")
elif not DEBUG and (len(_secret_key) < 32 or _secret_key.startswith(("dev-", "django-insecure"))):
    raise ImproperlyConfigured("SECRET_KEY looks like a development secret; refusing DEBUG=false.")
SECRET_KEY: str = _secret_key

# Key for HMAC-hashing API keys and license keys (never the passwords' slow hashers).
KEY_HASH_SECRET: str = env_secret("KEY_HASH_SECRET") or (
    dev_secret(VAR_DIR, "key_hash_secret") if DEBUG else ""
)
if not KEY_HASH_SECRET:
    raise ImproperlyConfigured("KEY_HASH_SECRET (or KEY_HASH_SECRET_FILE) must be set.")

# --- Hosts and security --------------------------------------------------------------------
# The port `make run` (rundev) serves on; links, emails and attestations default to it, so a
# server on RUN_PORT=8123 never hands out :8000 links. Production sets SITE_URL.
RUN_PORT = env_int("RUN_PORT", 8000, minimum=1)
SITE_URL = env_str("SITE_URL", f"http://127.0.0.1:{RUN_PORT}").rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO", False) else None
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

# --- Applications --------------------------------------------------------------------------
INSTALLED_APPS = [
    "fmugateway.core.admin_site.GatewayAdminConfig",  # django.contrib.admin, our site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "djstripe",
    "axes",
    "fmugateway.core",
    "accounts",
    "registry",
    "execution",
    "billing",
    "licensing",
    "marketplace",
    "catalog",
    "compliance",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "fmugateway.core.csp.ContentSecurityPolicyMiddleware",
    "fmugateway.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "fmugateway.core.middleware.ApiErrorMiddleware",
    "catalog.services.analytics.AnalyticsMiddleware",
    # Last, as django-axes asks: turns a refused sign-in into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fmugateway.urls"
CSRF_FAILURE_VIEW = "fmugateway.core.api.csrf_failure"
WSGI_APPLICATION = "fmugateway.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "billing.context_processors.payments",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        # Persistent connections: CONN_MAX_AGE=0 is ~6x slower on the API's hot paths.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        # A health check costs a SELECT 1 per request; a dropped connection fails one request.
        conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: wait for locks instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A ranked catalog search ranks the first matches a scan finds; synchronized scans start
    # each large sequential scan at another block, so the same search would page through
    # different candidates from one request to the next.
    # random_page_cost: PostgreSQL's default (4) prices random reads for spinning disks, so a
    # filtered search (say certified only) scanned the whole table under its LIMIT instead of
    # using the text index: 35-55 ms instead of ~15. SSDs and cached data want ~1.1.
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    _pg_options["options"] = (
        f"{_pg_options.get('options', '')} -c synchronize_seqscans=off"
        f" -c random_page_cost={env_float('DB_RANDOM_PAGE_COST', 1.1, minimum=0.01)}"
    ).strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ---------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "fmugateway_cache",
        }
    }

# --- Storage -------------------------------------------------------------------------------
S3_BUCKET_NAME = env_str("S3_BUCKET_NAME")
# Server-side encryption of the private storages' objects (artifacts, results) on S3: SSE-S3
# ("aes256") or SSE-KMS ("aws:kms", with the bucket's or account's default key unless
# S3_SSE_KMS_KEY_ID names one). Artifacts are also encrypted by the app (ARTIFACT_MASTER_KEYS).
S3_SSE = env_choice("S3_SSE", ("", "aes256", "aws:kms"), "")
S3_SSE_KMS_KEY_ID = env_str("S3_SSE_KMS_KEY_ID")
if S3_SSE_KMS_KEY_ID and S3_SSE != "aws:kms":
    raise ImproperlyConfigured("S3_SSE_KMS_KEY_ID needs S3_SSE=aws:kms.")
STORAGE_ROOT = Path(env_str("STORAGE_ROOT", str(VAR_DIR / "storage"))).resolve()
STATIC_URL = "static/"
# Collected static files (whitenoise serves them). The image collects them at build time into
# /app/staticfiles, outside the VAR_DIR volume, so a new image never serves an old volume's copy.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles"))).resolve()
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request otherwise
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"


def _server_side_encryption() -> dict:
    if S3_SSE == "aes256":
        return {"ServerSideEncryption": "AES256"}
    if S3_SSE == "aws:kms":
        kms_key = {"SSEKMSKeyId": S3_SSE_KMS_KEY_ID} if S3_SSE_KMS_KEY_ID else {}
        return {"ServerSideEncryption": "aws:kms", **kms_key}
    return {}


def _storage(location: str, *, private: bool) -> dict:
    if S3_BUCKET_NAME:
        options: dict[str, object] = {
            "bucket_name": S3_BUCKET_NAME,
            "location": location,
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION_NAME") or None,
            "default_acl": None if private else "public-read",
            "querystring_auth": private,
            "querystring_expire": env_int("SIGNED_URL_TTL_SECONDS", 300, minimum=10),
            "file_overwrite": False,
        }
        if private and S3_SSE:
            options["object_parameters"] = _server_side_encryption()
            # Presigned URLs of SSE-KMS objects (results) must be signed with SigV4.
            options["signature_version"] = "s3v4"
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(STORAGE_ROOT / location),
            "base_url": None if private else f"/{MEDIA_URL}",
            "file_permissions_mode": 0o640,
            "directory_permissions_mode": 0o750,
        },
    }


STORAGES = {
    "default": _storage("media", private=False),
    "media": _storage("media", private=False),
    "artifacts": _storage("artifacts", private=True),
    "results": _storage("results", private=True),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
SIGNED_URL_TTL_SECONDS = env_int("SIGNED_URL_TTL_SECONDS", 300, minimum=10)
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 512 * 1024 * 1024, minimum=1024)
# What an accepted archive may expand to, all entries together (the inspection's declared sizes;
# zipfile enforces them when the worker extracts).
UPLOAD_MAX_EXPANDED_BYTES = env_int("UPLOAD_MAX_EXPANDED_BYTES", 1024**3, minimum=1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # larger uploads stream to a temp file
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
SAMPLE_FMU_DIR = VAR_DIR / "sample_fmus"

# --- Celery --------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://localhost//")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL or "") or None
CELERY_BROKER_DIR = VAR_DIR / "broker"
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660, minimum=2)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_TIME_LIMIT must be above CELERY_TASK_SOFT_TIME_LIMIT.")
# A broker redelivers an unacknowledged task after this; longer than the longest task.
CELERY_VISIBILITY_TIMEOUT = env_int(
    "CELERY_VISIBILITY_TIMEOUT", max(3600, 2 * CELERY_TASK_TIME_LIMIT), minimum=60
)
if CELERY_VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must be above CELERY_TASK_TIME_LIMIT.")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _folder in ("queue", "control", "processed"):
        (CELERY_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
WORKER_HEARTBEAT_INTERVAL = env_int("WORKER_HEARTBEAT_INTERVAL", 10, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {
        "task": "fmugateway.core.tasks.heartbeat",
        "schedule": float(WORKER_HEARTBEAT_INTERVAL),
        "options": {"expires": float(WORKER_HEARTBEAT_INTERVAL)},
    },
    "purge-idempotency-records": {
        "task": "fmugateway.core.tasks.purge_idempotency_records",
        "schedule": 3600.0,
    },
    # Billing: grants each account its plan's monthly credits, exactly once per calendar month.
    # Execution: jobs whose worker died are re-queued once, then failed (worker_lost).
    "execution-recover-lost-jobs": {
        "task": "execution.recover_lost_jobs",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "billing-grant-monthly-credits": {
        "task": "billing.tasks.grant_monthly_credits",
        "schedule": 3600.0,
    },
    # Marketplace: the catalog's download/run/purchase counters and trending scores.
    "marketplace-refresh-catalog-stats": {
        "task": "marketplace.refresh_catalog_stats",
        "schedule": 600.0,
        "options": {"expires": 600.0},
    },
}
# Seconds between writes of the analytics events pages buffer in Redis (views, searches); 0,
# or no Redis cache, writes each request's events right after its response.
ANALYTICS_FLUSH_SECONDS = env_int("ANALYTICS_FLUSH_SECONDS", 10, minimum=0)
if ANALYTICS_FLUSH_SECONDS and REDIS_URL:
    CELERY_BEAT_SCHEDULE["marketplace-flush-analytics"] = {
        "task": "marketplace.flush_analytics",
        "schedule": float(ANALYTICS_FLUSH_SECONDS),
        "options": {"expires": float(ANALYTICS_FLUSH_SECONDS)},
    }
HEALTHZ_HEARTBEAT_MAX_AGE = env_int("HEALTHZ_HEARTBEAT_MAX_AGE", 60, minimum=5)

# --- FMU sandbox and simulations --------------------------------------------------------
# Without kernel namespaces the sandbox refuses to run FMUs unless this is on (never in prod).
FMU_SANDBOX_ALLOW_INSECURE = env_bool("FMU_SANDBOX_ALLOW_INSECURE", False)
FMU_SANDBOX_TEMP_ROOT = env_str("FMU_SANDBOX_TEMP_ROOT")
# Extracted FMUs kept per worker process (least recently used go first).
FMU_SANDBOX_CACHE_MAX_MB = env_int("FMU_SANDBOX_CACHE_MAX_MB", 2048, minimum=16)
# A cgroup per run (whole-run limits and metering) where the kernel lets us: "auto" or "off".
FMU_SANDBOX_CGROUPS = env_choice("FMU_SANDBOX_CGROUPS", ("auto", "off"), "auto")
# cgroup v2 only: a directory delegated to the worker (default: probed next to its own group).
FMU_SANDBOX_CGROUP_PARENT = env_str("FMU_SANDBOX_CGROUP_PARENT")
FMU_SANDBOX_SECCOMP = env_bool("FMU_SANDBOX_SECCOMP", True)
# Without cgroups a root worker runs each concurrent run as its own uid from this one on.
FMU_SANDBOX_RUN_UID_BASE = env_int("FMU_SANDBOX_RUN_UID_BASE", 1_900_000_000, minimum=1000)
SIMULATION_CPU_SECONDS = env_int("SIMULATION_CPU_SECONDS", 60, minimum=1)
SIMULATION_WALL_SECONDS = env_int("SIMULATION_WALL_SECONDS", 120, minimum=1)
SIMULATION_MEMORY_MB = env_int("SIMULATION_MEMORY_MB", 2048, minimum=64)
SIMULATION_MAX_OUTPUT_MB = env_int("SIMULATION_MAX_OUTPUT_MB", 64, minimum=1)
# Each sandboxed run of a validation job (smoke run, every test vector).
VALIDATION_CPU_SECONDS = env_int("VALIDATION_CPU_SECONDS", 60, minimum=1)
VALIDATION_WALL_SECONDS = env_int("VALIDATION_WALL_SECONDS", 90, minimum=1)
# Simulation jobs: the timeout a job gets when it asks for none, and the most any job may ask
# for (the plan's max_job_timeout_seconds may lower it). CPU and wall limits follow the timeout.
JOB_DEFAULT_TIMEOUT_SECONDS = env_int("JOB_DEFAULT_TIMEOUT_SECONDS", 60, minimum=1)
JOB_MAX_TIMEOUT_SECONDS = env_int("JOB_MAX_TIMEOUT_SECONDS", 3600, minimum=1)
# A job still "running" this long after its timeout lost its worker: re-queued once, then failed.
JOB_RECOVERY_GRACE_SECONDS = env_int("JOB_RECOVERY_GRACE_SECONDS", 120, minimum=10)
JOB_MAX_INPUT_ROWS = env_int("JOB_MAX_INPUT_ROWS", 100_000, minimum=2)
JOB_MAX_OUTPUT_POINTS = env_int("JOB_MAX_OUTPUT_POINTS", 1_000_000, minimum=10)
# Longest ``GET /api/v1/jobs/{id}?wait=N`` long-poll (0: never wait); each holds a web thread.
JOB_WAIT_MAX_SECONDS = env_int("JOB_WAIT_MAX_SECONDS", 30, minimum=0)
# Parameter sweeps: most runs in one batch (the plan's max_sweep_size may lower it), and how
# many runs one Celery task executes back to back in its warm sandbox.
SWEEP_MAX_RUNS = env_int("SWEEP_MAX_RUNS", 1000, minimum=1)
SWEEP_CHUNK_SIZE = env_int("SWEEP_CHUNK_SIZE", 20, minimum=1)

# --- Artifacts encrypted at rest (README "FMU files encrypted at rest") ---------------------
# Master keys wrapping each stored artifact's random data key: "id:base64key" entries (32-byte
# AES-256 keys), comma-separated. The first wraps new data keys; the others only unwrap until
# `manage.py rotate_artifact_keys` has rewrapped their data keys, after which they can go.
_artifact_master_keys = env_secret("ARTIFACT_MASTER_KEYS")
ARTIFACT_MASTER_KEYS_GENERATED = _artifact_master_keys is None
if _artifact_master_keys is None:
    if not DEBUG:
        raise ImproperlyConfigured(
            "ARTIFACT_MASTER_KEYS (or ARTIFACT_MASTER_KEYS_FILE) must be set when DEBUG is false: "
            "stored FMUs are encrypted with it. See README, FMU files encrypted at rest."
        )
    _dev_key = dev_secret(VAR_DIR, "artifact_master_key", 32)
    _artifact_master_keys = f"dev-{hashlib.sha256(_dev_key.encode()).hexdigest()[:8]}:{_dev_key}"
ARTIFACT_MASTER_KEYS = parse_key_ring("ARTIFACT_MASTER_KEYS", _artifact_master_keys)
if not ARTIFACT_MASTER_KEYS:
    raise ImproperlyConfigured("ARTIFACT_MASTER_KEYS holds no key.")

# --- Platform signing key (attestations, license files, signed answers) -------------------
# PEM Ed25519 private key; with DEBUG and none set, one is generated (encrypted) into var/secrets.
PLATFORM_SIGNING_KEY = env_secret("PLATFORM_SIGNING_KEY")
PLATFORM_SIGNING_KEY_PASSWORD = env_secret("PLATFORM_SIGNING_KEY_PASSWORD")
# PEM public keys of retired platform keys, still accepted when verifying.
PLATFORM_VERIFY_KEYS = env_secret("PLATFORM_VERIFY_KEYS") or ""

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "billing.authentication.ApiKeyAuthentication",
        "billing.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "billing.rate_limits.AccountRateThrottle",
        "billing.rate_limits.AnonRateThrottle",
    ],
    # Per-account rates come from the plan (pricing_tiers.json); this is per IP, no credentials.
    "DEFAULT_THROTTLE_RATES": {"anon": env_str("API_ANON_THROTTLE_RATE", "300/min")},
    # Every view declares what each method needs (fmugateway.core.scopes).
    "DEFAULT_PERMISSION_CLASSES": ["fmugateway.core.scopes.ScopeRequired"],
    # The API speaks JSON; the views that take files (uploads, a job's inputs CSV) add
    # multipart (and form) themselves.
    "DEFAULT_PARSER_CLASSES": ["fmugateway.core.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "fmugateway.core.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "fmugateway.core.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "fmugateway.core.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FMU Gateway API",
    "DESCRIPTION": "Find, buy and run simulation models packaged as FMUs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "ListingKindEnum": "licensing.models.LicenseKind",
        "SimulationStatusEnum": "execution.models.JobStatus",
        "FmiTypeEnum": "execution.services.job_settings.FMI_TYPES",
        "FmiInterfaceEnum": "execution.serializers.FMI_INTERFACES",
        "Ed25519Enum": ["Ed25519"],
        "SignatureStatusEnum": ["valid", "revoked"],
        "EntitlementEnum": ["download", "execute"],
        "OrderStatusEnum": "marketplace.models.Order.Status",
        "LicenseCheckCodeEnum": "licensing.serializers.LICENSE_CHECK_CODES",
    },
    # Separate request and response components (read-only fields only in responses), as
    # client generators expect. Errors, scopes and headers: fmugateway.core.schema.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from our static files (drf-spectacular-sidecar), never a CDN; no validator
    # badge (it would load an image from validator.swagger.io).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}
IDEMPOTENCY_TTL_HOURS = env_int("IDEMPOTENCY_TTL_HOURS", 24, minimum=1)

# --- Billing -------------------------------------------------------------------------------
# Plans (included credits, overage, rate limits, job limits) are data: pricing_tiers.json.
PRICING_TIERS_FILE = Path(env_str("PRICING_TIERS_FILE", str(BASE_DIR / "pricing_tiers.json")))


def _credit_rate(name: str, default: str):
    """A non-negative decimal rate in credits (parsed exactly, never through float)."""
    import decimal

    raw = env_str(name, default)
    try:
        value = decimal.Decimal(raw)
    except decimal.InvalidOperation:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a decimal number.") from None
    if not value.is_finite() or value < 0:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a non-negative number.")
    return value


# Credit consumption model (seed 001 §3): per run by model size class, plus CPU time and memory
# (peak GB x wall seconds), plus a surcharge on premium models, less the plan's discount_bps.
CREDIT_RATE_RUN_SMALL = _credit_rate("CREDIT_RATE_RUN_SMALL", "1")
CREDIT_RATE_RUN_MEDIUM = _credit_rate("CREDIT_RATE_RUN_MEDIUM", "2")
CREDIT_RATE_RUN_LARGE = _credit_rate("CREDIT_RATE_RUN_LARGE", "5")
CREDIT_RATE_CPU_SECOND = _credit_rate("CREDIT_RATE_CPU_SECOND", "1")
CREDIT_RATE_GB_SECOND = _credit_rate("CREDIT_RATE_GB_SECOND", "0.25")
CREDIT_RATE_PREMIUM_SURCHARGE_BPS = env_int("CREDIT_RATE_PREMIUM_SURCHARGE_BPS", 5000, minimum=0)
# FMU archive sizes from which a model is "medium" / "large" for the per-run base rate.
CREDIT_SIZE_MEDIUM_BYTES = env_int("CREDIT_SIZE_MEDIUM_BYTES", 10 * 1024 * 1024, minimum=1)
CREDIT_SIZE_LARGE_BYTES = env_int("CREDIT_SIZE_LARGE_BYTES", 100 * 1024 * 1024, minimum=1)
# Short-lived API tokens (JWT signed with Ed25519) minted from API keys at /api/v1/auth/token.
TOKEN_TTL_SECONDS = env_int("TOKEN_TTL_SECONDS", 900, minimum=30)
TOKEN_ISSUER = env_str("TOKEN_ISSUER", SITE_URL)
# PEM Ed25519 private key (optionally encrypted with TOKEN_SIGNING_KEY_PASSWORD); with DEBUG and
# none set, one is generated (encrypted) into var/secrets/token_signing_key.pem.
TOKEN_SIGNING_KEY = env_secret("TOKEN_SIGNING_KEY")
TOKEN_SIGNING_KEY_PASSWORD = env_secret("TOKEN_SIGNING_KEY_PASSWORD")
# PEM public keys of retired signing keys, still accepted for verification after a rotation.
TOKEN_VERIFY_KEYS = env_secret("TOKEN_VERIFY_KEYS") or ""

# --- Stripe (dj-stripe + stripe-python) ----------------------------------------------------
# Without STRIPE_SECRET_KEY the product runs as usual and paid endpoints answer 503
# payments_unavailable. Webhooks arrive at SITE_URL/stripe/webhook/<STRIPE_WEBHOOK_UUID>/ and are
# verified with STRIPE_WEBHOOK_SECRET (`manage.py stripe_webhook_endpoint` registers it).
STRIPE_SECRET_KEY = env_secret("STRIPE_SECRET_KEY") or ""
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY")
STRIPE_PUBLIC_KEY = STRIPE_PUBLISHABLE_KEY  # dj-stripe's name for it
STRIPE_WEBHOOK_SECRET = env_secret("STRIPE_WEBHOOK_SECRET") or ""
DJSTRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET
STRIPE_WEBHOOK_UUID = env_str("STRIPE_WEBHOOK_UUID", "6f1c2a4e-8d3b-4b6e-9a51-2f0c7e5d9b13")
# Where stripe-python sends requests: a local Stripe-compatible server in tests and development.
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
STRIPE_LIVE_MODE = env_bool("STRIPE_LIVE_MODE", False)
# Stripe.js, loaded by the checkout page to take the card in the browser (tests point it at the
# local Stripe-compatible server's copy).
STRIPE_JS_URL = env_str("STRIPE_JS_URL", "https://js.stripe.com/v3/")
# The Pro tier's monthly price: a price id (price_...) or its lookup key;
# `manage.py stripe_sync_products` creates it with this lookup key from pricing_tiers.json.
STRIPE_PRO_PRICE = env_str("STRIPE_PRO_PRICE", "fmugw-pro-monthly")
# `manage.py rundev` with DEBUG on and no STRIPE_SECRET_KEY starts the local Stripe-compatible
# test server (billing/stripe/local_server.py, a dev requirement) on this loopback port and points
# web, worker and beat at it (README "Payments"). 0: a free port.
LOCAL_STRIPE_PORT = env_int("LOCAL_STRIPE_PORT", RUN_PORT + 1, minimum=0)
STRIPE_CURRENCY = env_str("STRIPE_CURRENCY", "usd").lower()
# Credit packs: bought in one payment at the buyer's plan's overage rate per credit.
CREDIT_PACK_MIN_CREDITS = env_int("CREDIT_PACK_MIN_CREDITS", 1000, minimum=1)
CREDIT_PACK_MAX_CREDITS = env_int("CREDIT_PACK_MAX_CREDITS", 1_000_000, minimum=1)
# A subscription whose renewal failed keeps its plan this long, then falls back to Free.
BILLING_GRACE_DAYS = env_int("BILLING_GRACE_DAYS", 7, minimum=0)
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
CELERY_BEAT_SCHEDULE["billing-end-lapsed-grace-periods"] = {
    "task": "billing.tasks.end_lapsed_grace_periods",
    "schedule": 3600.0,
}
# Last month's overage, invoiced once per account (hourly: retries what Stripe refused).
CELERY_BEAT_SCHEDULE["billing-bill-overage"] = {
    "task": "billing.tasks.bill_overage",
    "schedule": 3600.0,
}

# --- Marketplace ---------------------------------------------------------------------------
# The platform's cut of each sale in basis points (1500 = 15%); a listing may give the creator
# less than 10000 - PLATFORM_FEE_BPS, never more. Sales stay pending this long before payout.
# Seconds each web process reuses the catalog facets (category tree, tags) it read from the
# cache before asking again; 0 reads them on every page.
FACET_LOCAL_SECONDS = env_float("FACET_LOCAL_SECONDS", 5.0, minimum=0)
PLATFORM_FEE_BPS = env_int("PLATFORM_FEE_BPS", 1500, minimum=0)
if PLATFORM_FEE_BPS > 10000:
    raise ImproperlyConfigured("PLATFORM_FEE_BPS must be between 0 and 10000.")
CREATOR_EARNINGS_HOLD_DAYS = env_int("CREATOR_EARNINGS_HOLD_DAYS", 14, minimum=0)
# Beat gathers available balances into a payout batch (for a moderator to approve) this often.
PAYOUT_INTERVAL_DAYS = env_int("PAYOUT_INTERVAL_DAYS", 7, minimum=1)
CELERY_BEAT_SCHEDULE["marketplace-schedule-payouts"] = {
    "task": "marketplace.schedule_payouts",
    "schedule": 3600.0,
    "options": {"expires": 3600.0},
}
# POST /api/v1/licenses/verify|activate|deactivate: limits per client IP and per license key.
LICENSE_VERIFY_RATE_PER_IP = env_str("LICENSE_VERIFY_RATE_PER_IP", "600/min")
LICENSE_VERIFY_RATE_PER_KEY = env_str("LICENSE_VERIFY_RATE_PER_KEY", "60/min")
# Signed offline license files are valid this long (or until the license expires, if sooner).
OFFLINE_LICENSE_TTL_DAYS = env_int("OFFLINE_LICENSE_TTL_DAYS", 30, minimum=1)
# Licenses past their validity (or trials with no runs left) are marked expired; verification
# already answers EXPIRED by date, this keeps the rows and the audit log in step.
CELERY_BEAT_SCHEDULE["marketplace-expire-licenses"] = {
    "task": "marketplace.expire_licenses",
    "schedule": 600.0,
    "options": {"expires": 600.0},
}

# --- Content-Security-Policy (django-csp) ---------------------------------------------------
# Scripts run only from our origin or with the response's nonce (``request.csp_nonce``); no
# inline handlers, no eval. fmugateway.core.csp widens it where a page needs more: Stripe's
# origins on the payment page, inline styles in the admin and the API's HTML pages. No
# form-action: Chrome applies it to the redirects after a POST, and our forms redirect to
# Stripe Checkout, Stripe Connect onboarding and signed S3 download URLs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", csp_constants.NONCE],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "report-uri": env_str("CSP_REPORT_URI") or None,
    }
}

# --- Auth ----------------------------------------------------------------------------------
# django-axes first: it refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Sign-in protection (README "Sign-in protection") --------------------------------------
# Password sign-ins (storefront and admin) are counted by django-axes in the database (staff see
# and reset them in the admin), by three counters over the last LOGIN_COOLOFF_MINUTES: the
# account from one IP, the account from anywhere, one IP whatever the account. A counter at its
# limit refuses the sign-ins it covers until enough of its failures are LOGIN_COOLOFF_MINUTES
# old; attempts refused meanwhile are not counted, so a stranger cannot keep an account locked.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_FAILURE_LIMIT_PER_ACCOUNT = env_int("LOGIN_FAILURE_LIMIT_PER_ACCOUNT", 20, minimum=1)
LOGIN_FAILURE_LIMIT_PER_IP = env_int("LOGIN_FAILURE_LIMIT_PER_IP", 50, minimum=1)
LOGIN_COOLOFF_MINUTES = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1)
AXES_HANDLER = "accounts.lockout.SignInAttemptHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT  # the scale the handler maps each counter's limit to
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username", "ip_address"]
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_FORM_FIELD = "username"  # the field name of Django's login forms
AXES_USERNAME_CALLABLE = "accounts.lockout.attempted_username"
AXES_CLIENT_IP_CALLABLE = "fmugateway.core.middleware.client_ip"  # REMOTE_ADDR, never XFF
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# Successful sign-ins are not logged: that table would grow without end; lockouts are audited.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# Masked in the form data kept with each failure (the password always is).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
# Password reset emails: fixed windows per client IP and per address (429 page over a limit).
PASSWORD_RESET_RATE_PER_IP = env_str("PASSWORD_RESET_RATE_PER_IP", "20/hour")
PASSWORD_RESET_RATE_PER_ADDRESS = env_str("PASSWORD_RESET_RATE_PER_ADDRESS", "3/hour")
# Failed API-key presentations (unknown id, wrong secret, malformed key), counted per key id from
# one IP and per IP over API_KEY_LOCKOUT_MINUTES; at a limit that key id from that IP (or any key
# from that IP) answers 429 too_many_attempts for API_KEY_LOCKOUT_MINUTES.
API_KEY_FAILURE_LIMIT = env_int("API_KEY_FAILURE_LIMIT", 10, minimum=1)
API_KEY_FAILURE_LIMIT_PER_IP = env_int("API_KEY_FAILURE_LIMIT_PER_IP", 50, minimum=1)
API_KEY_LOCKOUT_MINUTES = env_int("API_KEY_LOCKOUT_MINUTES", 15, minimum=1)

# --- Email ---------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "FMU Gateway <noreply@localhost>")
# Where buyers write about refunds (shown where a purchase stops working: a takedown).
SUPPORT_EMAIL = env_str("SUPPORT_EMAIL", "support@localhost")

# --- i18n ----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging -------------------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", ("debug", "info", "warning", "error"), "info").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "filters": {"request_id": {"()": "fmugateway.core.middleware.RequestIdLogFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
