from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        from marketplace.entitlements import grants_download
        from marketplace.services.takedowns import takedown_block, takedown_hold
        from registry.access import (
            register_download_block,
            register_download_rule,
            register_listing_hold,
        )

        register_download_rule(grants_download)
        register_download_block(takedown_block)  # DMCA: 451 package_taken_down
        register_listing_hold(takedown_hold)  # and no relisting around it

        from marketplace import signals, storefront
        from registry.pages import register_console_extension, register_package_page_extension

        register_package_page_extension(storefront.package_page)
        register_console_extension(storefront.console)
        signals.connect()
        checks.register(check_settings, checks.Tags.security)

        from marketplace import webhooks

        webhooks.connect()  # Stripe events for orders and Connect accounts


def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from fmugateway.core.ratelimit import parse_rate

    errors: list[checks.CheckMessage] = []
    for name in ("LICENSE_VERIFY_RATE_PER_IP", "LICENSE_VERIFY_RATE_PER_KEY"):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(checks.Error(f"{name}: {exc}", id="marketplace.E001"))
    if not 0 <= settings.PLATFORM_FEE_BPS <= 10000:
        errors.append(checks.Error("PLATFORM_FEE_BPS must be 0..10000.", id="marketplace.E002"))
    return errors
