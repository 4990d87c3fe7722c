from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from compliance.services.takedowns import takedown_block, takedown_hold
        from execution.services.run_access import register_run_block
        from registry.access import register_download_block, register_listing_hold

        # DMCA: a package taken down answers 451 package_taken_down and is not relisted.
        register_download_block(takedown_block)
        register_listing_hold(takedown_hold)
        register_run_block(takedown_block)
