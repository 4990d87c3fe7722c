from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from accounts import lockout

        user_locked_out.connect(lockout.audit_lockout, dispatch_uid="accounts.audit_lockout")
        checks.register(check_settings, checks.Tags.security)


def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from fmugateway.core.ratelimit import parse_rate

    errors: list[checks.CheckMessage] = []
    for name in ("PASSWORD_RESET_RATE_PER_IP", "PASSWORD_RESET_RATE_PER_ADDRESS"):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(checks.Error(f"{name}: {exc}", id="accounts.E001"))
    return errors
