from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Commerce"

    def ready(self) -> None:
        from licensing.signals import (
            license_revoked_by_staff,
            subscription_license_status_changed,
        )
        from marketplace import webhooks

        webhooks.connect()  # Stripe events for orders
        subscription_license_status_changed.connect(
            _follow_in_billing, dispatch_uid="marketplace.follow_license_status"
        )
        license_revoked_by_staff.connect(
            _stop_billing_revoked, dispatch_uid="marketplace.stop_billing_revoked"
        )
        checks.register(check_settings, checks.Tags.security)


def _follow_in_billing(sender, license, **kwargs) -> None:
    """A subscription license stops (or resumes) being billed with its suspension."""
    from marketplace.tasks import sync_subscription_pause_task

    sync_subscription_pause_task.delay(license.pk)  # sent once the suspension commits


def _stop_billing_revoked(sender, license, **kwargs) -> None:
    from marketplace.payments import cancel_license_subscription

    cancel_license_subscription(license)


def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if not 0 <= settings.PLATFORM_FEE_BPS <= 10000:
        return [checks.Error("PLATFORM_FEE_BPS must be 0..10000.", id="marketplace.E002")]
    return []
