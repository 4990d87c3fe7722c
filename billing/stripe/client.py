"""The one place that points stripe-python at Stripe (or a local Stripe-compatible server).

Every call to Stripe goes through ``api_key()``, which refuses with 503 ``payments_unavailable``
when no ``STRIPE_SECRET_KEY`` is configured, and ``provider_errors()``, which turns Stripe's
exceptions into domain errors with a stable code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe
from django.conf import settings

from fmugateway.core.errors import DomainError

logger = logging.getLogger(__name__)


class PaymentsUnavailable(DomainError):
    status_code = 503
    code = "payments_unavailable"
    detail = "Payments are not available on this server (Stripe is not configured)."


class PaymentProviderError(DomainError):
    status_code = 502
    code = "payment_provider_error"
    detail = "The payment provider could not be reached or refused the request; try again."


class PaymentDeclined(DomainError):
    status_code = 402
    code = "payment_declined"
    detail = "The card was declined."


def is_enabled() -> bool:
    """Whether paid features can work: a Stripe secret key is configured."""
    return bool(settings.STRIPE_SECRET_KEY)


def is_test_mode() -> bool:
    """Whether payments work but move no real money: ``STRIPE_LIVE_MODE`` is false, or the
    key is a test key (pages that take money say TEST MODE then)."""
    key = settings.STRIPE_SECRET_KEY
    return is_enabled() and (not settings.STRIPE_LIVE_MODE or "_test_" in key)


def configure() -> None:
    """Apply the settings to stripe-python's module state (base URL, retries, telemetry)."""
    stripe.api_base = settings.STRIPE_API_BASE
    stripe.enable_telemetry = False
    stripe.max_network_retries = 2


def api_key() -> str:
    """The secret key for the next Stripe call; 503 ``payments_unavailable`` without one."""
    if not is_enabled():
        raise PaymentsUnavailable()
    configure()
    return settings.STRIPE_SECRET_KEY


class PaymentMethodInvalid(DomainError):
    status_code = 400
    code = "payment_method_invalid"
    detail = "Stripe knows no such payment method for you; collect the card again."


def _names_missing_payment_method(exc: stripe.InvalidRequestError) -> bool:
    if (exc.param or "").startswith("payment_method"):
        return True
    return exc.code == "resource_missing" or exc.http_status == 404


@contextmanager
def provider_errors(*, payment_method: str | None = None) -> Iterator[None]:
    """Turn stripe-python's exceptions into domain errors: 402 declined, 400
    ``payment_method_invalid`` when Stripe does not know the ``payment_method`` the client gave,
    502 anything else (Stripe down, or a request of ours it refused)."""
    try:
        yield
    except stripe.CardError as exc:
        raise PaymentDeclined(exc.user_message or PaymentDeclined.detail) from exc
    except stripe.InvalidRequestError as exc:
        if payment_method and _names_missing_payment_method(exc):
            raise PaymentMethodInvalid() from exc
        logger.warning("Stripe request failed: %s", exc)
        raise PaymentProviderError() from exc
    except stripe.StripeError as exc:
        logger.warning("Stripe request failed: %s", exc)
        raise PaymentProviderError() from exc


def as_dict(obj: Any) -> dict:
    """A plain JSON dict of a Stripe object (stripe-python 15 objects are not dicts)."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    return json.loads(str(obj))


def object_id(value: Any) -> str | None:
    """The id of an expanded object or the id itself (Stripe sends either)."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        return value.get("id")
    return getattr(value, "id", None)
