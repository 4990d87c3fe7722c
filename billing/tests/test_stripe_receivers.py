"""How Stripe event handlers become dj-stripe receivers (billing's and marketplace's alike)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from djstripe.models import Event
from djstripe.signals import WEBHOOK_SIGNALS

from billing.stripe.client import PaymentsUnavailable
from billing.stripe.receivers import connect_handlers, event_object, handler
from fmugateway.core.errors import DomainError


def stripe_event(data=None):
    return SimpleNamespace(id="evt_1", type="balance.available", data=data)


def test_a_refusal_a_retry_cannot_change_is_logged_by_the_handlers_module_and_swallowed(caplog):
    @handler
    def on_event(event):
        raise DomainError("Nothing to do with it.")

    with caplog.at_level(logging.WARNING):
        assert on_event(sender=Event, event=stripe_event()) is None

    (entry,) = caplog.records
    assert entry.name == __name__
    assert entry.getMessage() == (
        "Stripe event evt_1 (balance.available) not applied: Nothing to do with it."
    )


def test_a_transient_failure_propagates_so_that_stripe_delivers_again():
    @handler
    def on_event(event):
        raise PaymentsUnavailable()

    with pytest.raises(PaymentsUnavailable):
        on_event(sender=Event, event=stripe_event())


def test_connected_handlers_receive_their_event_type_once_however_often_connected():
    seen = []

    @handler
    def on_balance_available(event):
        seen.append(event_object(event)["id"])

    signal = WEBHOOK_SIGNALS["balance.available"]  # no receiver in the product
    try:
        connect_handlers({"balance.available": on_balance_available}, "test")
        connect_handlers({"balance.available": on_balance_available}, "test")
        signal.send(sender=Event, event=stripe_event({"object": {"id": "bal_1"}}))
    finally:
        signal.disconnect(sender=Event, dispatch_uid="test:balance.available")

    assert seen == ["bal_1"]


def test_an_event_without_an_object_reads_as_an_empty_one():
    assert event_object(stripe_event(None)) == {}
    assert event_object(stripe_event({"object": None})) == {}
