"""System checks: the pricing tiers load, production can sign tokens, Stripe is consistent."""

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
        from billing import token_keys

        try:
            token_keys.signing_key()
            token_keys.verification_keys()
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


@register(Tags.compatibility)
def stripe_configured(app_configs, **kwargs):
    """Stripe settings that contradict each other (payments stay off without a key)."""
    problems = []
    key = settings.STRIPE_SECRET_KEY
    if not key:
        return problems
    if not key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
        problems.append(
            Error(
                "STRIPE_SECRET_KEY does not look like a Stripe secret key (sk_... or rk_...).",
                id="billing.E004",
            )
        )
    elif ("_live_" in key) != settings.STRIPE_LIVE_MODE:
        problems.append(
            Error(
                "STRIPE_SECRET_KEY is a "
                f"{'live' if '_live_' in key else 'test'} key but STRIPE_LIVE_MODE is "
                f"{str(settings.STRIPE_LIVE_MODE).lower()}.",
                hint="Use a key of the mode STRIPE_LIVE_MODE says.",
                id="billing.E005",
            )
        )
    if not settings.STRIPE_WEBHOOK_SECRET:
        problems.append(
            Warning(
                "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: payments will not "
                "be confirmed (webhooks cannot be verified).",
                hint="Set STRIPE_WEBHOOK_SECRET and run `manage.py stripe_webhook_endpoint`.",
                id="billing.W002",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def stripe_api_base_is_stripe(app_configs, **kwargs):
    if settings.STRIPE_SECRET_KEY and settings.STRIPE_API_BASE != "https://api.stripe.com":
        return [
            Warning(
                f"STRIPE_API_BASE is {settings.STRIPE_API_BASE}, not Stripe's API.",
                hint="Unset STRIPE_API_BASE in production.",
                id="billing.W003",
            )
        ]
    return []
