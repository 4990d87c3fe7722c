from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from catalog import page_extensions, signals
        from registry.pages import (
            register_category_choices,
            register_console_extension,
            register_package_page_extension,
        )

        register_package_page_extension(page_extensions.package_page)
        register_console_extension(page_extensions.console)
        register_category_choices(page_extensions.category_choices)
        signals.connect()
