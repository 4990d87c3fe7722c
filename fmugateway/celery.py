"""The Celery application shared by every app (``celery -A fmugateway worker``).

Its configuration is the ``CELERY_*`` block of ``fmugateway.settings``. Every task's base
class is ``TransactionAwareTask``: ``task.delay(pk)`` inside a transaction is sent after
the commit, so that is the one way to dispatch a task.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fmugateway.settings")

# By name: resolved when the first task is made, after Django's settings (which import this).
app = Celery("fmugateway", task_cls="fmugateway.core.tasks:TransactionAwareTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
