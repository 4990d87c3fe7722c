from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from catalog import signals, storefront
        from registry.pages import register_console_extension, register_package_page_extension

        register_package_page_extension(storefront.package_page)
        register_console_extension(storefront.console)
        signals.connect()
