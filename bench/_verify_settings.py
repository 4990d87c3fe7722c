"""Settings for ``bench_license_verify.py``: the product's settings with the benchmark's URLconf
(the product's routes plus the bare baseline view). Selected by the environment:
``DJANGO_SETTINGS_MODULE=_verify_settings`` with ``bench/`` on ``PYTHONPATH``.
"""

from fmugateway.settings import *  # noqa: F403

ROOT_URLCONF = "_verify_urls"
