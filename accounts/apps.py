from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from accounts import lockout

        user_locked_out.connect(lockout.audit_lockout, dispatch_uid="accounts.audit_lockout")
        checks.register(check_settings, checks.Tags.security)
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="accounts.sync_roles")


def sync_roles_after_migrate(sender, using="default", apps=None, **kwargs) -> None:
    """After every ``migrate`` (and test-database flush), once the last app has its permissions
    (Django creates them per app in this same signal), so groups follow ``accounts.roles``."""
    from django.apps import apps as global_apps

    with_models = [config for config in global_apps.get_app_configs() if config.models_module]
    if sender is not with_models[-1]:
        return
    try:  # ``flush`` sends no ``apps``: the tables are all there
        (apps or global_apps).get_model("auth", "Group")
        (apps or global_apps).get_model("contenttypes", "ContentType")
    except LookupError:  # migrated to a point before auth exists
        return
    from accounts.roles import sync_roles

    sync_roles(using=using)


def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from fmugateway.core.ratelimit import parse_rate

    errors: list[checks.CheckMessage] = []
    for name in ("PASSWORD_RESET_RATE_PER_IP", "PASSWORD_RESET_RATE_PER_ADDRESS"):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(checks.Error(f"{name}: {exc}", id="accounts.E001"))
    return errors
