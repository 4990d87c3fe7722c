"""Fast-lane test settings (``make test-fast``): the test settings without Redis.

Celery runs tasks eagerly in the test process and the cache is local memory, so the lane
needs PostgreSQL only. Tests of what only Redis or a real worker does are left to the full
suite (``make test``): the root ``conftest.py`` marks them and ``make test-fast`` deselects
those markers.
"""

import os

# Before the settings read it: no Redis cache, broker, result backend or job notifications.
os.environ["REDIS_URL"] = ""

from fmugateway.settings_test import *  # noqa: F403

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Its own test database: the lane's --reuse-db never meets the full suite's create/drop.
DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_fast"}  # noqa: F405
