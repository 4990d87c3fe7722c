from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "fmugateway.core"
    label = "core"
    verbose_name = "Platform"

    def ready(self) -> None:
        from fmugateway.core import checks  # noqa: F401  (registers system checks)
