"""A validly signed webhook that is not shaped like a Stripe event is refused (400) and logged,
never a 500 that Stripe would retry for days."""

from __future__ import annotations

import json
import logging

import pytest

from billing.stripe.endpoint import ensure_endpoint, webhook_path
from billing.tests.stripe_fixtures import sign, stripe_event

pytestmark = pytest.mark.django_db

TYPES = [
    "customer.subscription.updated",
    "invoice.paid",
    "payment_intent.succeeded",
    "charge.refunded",
    "checkout.session.completed",
    "account.updated",
    "transfer.reversed",
]
MALFORMED_DATA = ["text", [1, 2], None, {}, {"object": "x"}, {"object": [1]}, {"object": {"id": 5}}]


def _post(client, event, *, signed: bool = True):
    body = json.dumps(event)
    headers = {"HTTP_STRIPE_SIGNATURE": sign(body)} if signed else {}
    return client.post(webhook_path(), body, content_type="application/json", **headers)


@pytest.fixture
def endpoint(stripe_settings):
    return ensure_endpoint()


@pytest.mark.parametrize("event_type", TYPES)
@pytest.mark.parametrize("data", MALFORMED_DATA, ids=repr)
def test_a_signed_event_whose_data_is_not_an_object_is_400_and_logged(
    client, endpoint, caplog, event_type, data
):
    event = stripe_event(event_type, {})
    event["data"] = data
    client.raise_request_exception = False

    with caplog.at_level(logging.WARNING, logger="billing.stripe.endpoint"):
        response = _post(client, event)

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_event"
    assert any("Refused a signed Stripe webhook" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("body", ['"just a string"', "[1]", "{not json"])
def test_a_signed_body_that_is_not_an_event_is_400(client, endpoint, body):
    response = client.post(
        webhook_path(), body, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(body)
    )

    assert response.status_code == 400


def test_an_unsigned_malformed_event_is_still_refused_by_the_signature_check(client, endpoint):
    event = stripe_event("charge.refunded", {})
    event["data"] = "text"

    assert _post(client, event, signed=False).status_code == 400


def test_a_well_formed_event_still_goes_to_dj_stripe(client, endpoint):
    from djstripe.models import WebhookEventTrigger

    event = stripe_event("charge.refunded", {"id": "ch_unknown", "object": "charge"})
    client.raise_request_exception = False

    _post(client, event)  # dj-stripe then asks Stripe for the charge (unknown here)

    trigger = WebhookEventTrigger.objects.get()
    assert trigger.valid
    assert json.loads(trigger.body)["id"] == event["id"]
