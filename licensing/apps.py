from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class LicensingConfig(AppConfig):
    name = "licensing"
    verbose_name = "Licensing"

    def ready(self) -> None:
        from accounts.signals import email_verified
        from licensing.entitlements import grants_download
        from registry.access import register_download_rule

        register_download_rule(grants_download)
        email_verified.connect(_email_verified, dispatch_uid="mkt-bind-seats")
        checks.register(check_settings, checks.Tags.security)


def _email_verified(sender, user, **kwargs) -> None:
    """Seats and organisation invitations sent to an address wait until its owner proves it."""
    from accounts.services.organisations import accept_invitations
    from licensing.services.seats import bind_pending_seats

    bind_pending_seats(user)
    accept_invitations(user)


def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from fmugateway.core.ratelimit import parse_rate

    errors: list[checks.CheckMessage] = []
    for name in ("LICENSE_VERIFY_RATE_PER_IP", "LICENSE_VERIFY_RATE_PER_KEY"):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(checks.Error(f"{name}: {exc}", id="marketplace.E001"))
    return errors
