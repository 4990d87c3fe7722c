"""The Celery application shared by every app (``celery -A fmugateway worker``).

Its configuration is the ``CELERY_*`` block of ``fmugateway.settings``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fmugateway.settings")

app = Celery("fmugateway")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
