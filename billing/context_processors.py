"""What every page knows about payments: whether paid items can be bought here, and whether
they are in test mode (``templates/billing/_payment_mode.html`` says so on pages that take
money)."""

from __future__ import annotations

from django.http import HttpRequest

from billing.stripe.client import is_enabled, is_test_mode

# Said next to a disabled Buy / Subscribe / Buy credits button.
UNAVAILABLE = "Payments are not set up on this server, so paid items cannot be bought here."


def payments(request: HttpRequest) -> dict[str, object]:
    return {
        "payments": {
            "available": is_enabled(),
            "test_mode": is_test_mode(),
            "unavailable_reason": UNAVAILABLE,
        }
    }
