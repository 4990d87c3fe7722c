"""How a Stripe event handler becomes a dj-stripe webhook receiver; billing's and marketplace's
handlers are made the same way.

``@handler`` turns a function of the event into a receiver of dj-stripe's webhook signals with
one failure policy: transient failures (Stripe unreachable, payments unavailable) raise, so the
webhook answers 500 and Stripe delivers the event again later (dj-stripe rolls the event back);
a ``DomainError``, which a retry cannot fix, is logged (on the handler's module's logger) and
swallowed. ``connect_handlers`` hooks a table of them on the signals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from djstripe.models import Event
from djstripe.signals import WEBHOOK_SIGNALS

from billing.stripe.client import PaymentProviderError, PaymentsUnavailable
from fmugateway.core.errors import DomainError

Receiver = Callable[..., None]


def event_object(event: Event) -> dict:
    """The Stripe object the event names, as delivered (``{}`` when it has none)."""
    return (event.data or {}).get("object") or {}


def handler(function: Callable[[Event], None]) -> Receiver:
    """Run a webhook handler; let transient failures through (Stripe retries), log the rest."""
    logger = logging.getLogger(function.__module__)

    def wrapper(sender, event: Event, **kwargs):
        try:
            return function(event)
        except (PaymentProviderError, PaymentsUnavailable):
            raise
        except DomainError as exc:
            logger.warning("Stripe event %s (%s) not applied: %s", event.id, event.type, exc)
        return None

    # Not functools.wraps: Django checks the receiver's own signature (it takes **kwargs).
    wrapper.__name__, wrapper.__qualname__ = function.__name__, function.__qualname__
    wrapper.__doc__, wrapper.__module__ = function.__doc__, function.__module__
    return wrapper


def connect_handlers(handlers: Mapping[str, Receiver], app: str) -> None:
    """Hook ``handlers`` (event type → receiver) on dj-stripe's signals, after dj-stripe's own
    (which sync the object); ``app`` keeps each app's dispatch uids apart."""
    for event_type, function in handlers.items():
        WEBHOOK_SIGNALS[event_type].connect(
            function, sender=Event, dispatch_uid=f"{app}:{event_type}"
        )
