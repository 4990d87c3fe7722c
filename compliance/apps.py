from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from compliance.services.takedowns import takedown_block, takedown_hold
        from compliance.views import taken_down_page
        from execution.services.run_access import register_run_block
        from registry.access import register_download_block, register_listing_hold
        from registry.pages import register_unavailable_page

        # DMCA: a package taken down answers 451 package_taken_down and is not relisted.
        register_download_block(takedown_block)
        register_listing_hold(takedown_hold)
        register_run_block(takedown_block)
        # ...and its license holders are told why at its page (451), not shown a 404.
        register_unavailable_page(taken_down_page)
