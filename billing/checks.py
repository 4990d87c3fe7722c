"""System checks: the pricing tiers load, and production can sign tokens."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.compatibility)
def pricing_tiers_load(app_configs, **kwargs):
    from billing.services.plans import tiers

    try:
        tiers()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="Fix pricing_tiers.json.", id="billing.E001")]
    return []


@register(Tags.security, deploy=True)
def token_signing_key_configured(app_configs, **kwargs):
    problems = []
    if not settings.TOKEN_SIGNING_KEY:
        problems.append(
            Error(
                "TOKEN_SIGNING_KEY is not set: /api/v1/auth/token cannot mint tokens.",
                hint="Set TOKEN_SIGNING_KEY (or TOKEN_SIGNING_KEY_FILE) to an Ed25519 PEM key.",
                id="billing.E002",
            )
        )
    else:
        from billing import signing

        try:
            signing.signing_key()
            signing.verification_keys()
        except ImproperlyConfigured as exc:
            problems.append(Error(str(exc), id="billing.E003"))
    if settings.TOKEN_SIGNING_KEY and not settings.TOKEN_SIGNING_KEY_PASSWORD:
        problems.append(
            Warning(
                "TOKEN_SIGNING_KEY is not encrypted (no TOKEN_SIGNING_KEY_PASSWORD).",
                hint="Keep the key in a secret store, or encrypt the PEM and set the password.",
                id="billing.W001",
            )
        )
    return problems
