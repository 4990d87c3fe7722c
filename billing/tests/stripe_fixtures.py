"""Stripe test fixtures: a local Stripe-compatible server, signed webhooks, Stripe-shaped events.

Loaded by the root ``conftest.py`` (``pytest_plugins``). Nothing here reaches the real Stripe:
``stripe_settings`` points stripe-python at the server this session started on 127.0.0.1 and
refuses anything else.

* ``localstripe_url``: the server (``billing/stripe/local_server.py``), one per session.
* ``stripe_settings``: the Stripe settings for a test (keys, base URL, webhook secret, a Pro
  price that exists on that server).
* ``stripe_live``: the webhook endpoint registered both in the database (dj-stripe's
  ``WebhookEndpoint``) and at the server, which then delivers its events, signed, to the live
  test server. Tests that use it need the transactional database.
* ``StripeTestbed`` (fixture ``stripe_testbed``): what a browser, Stripe's hosted pages or a
  bank would do at the server (confirm a PaymentIntent with a card, finish Checkout or Connect
  onboarding, open and close disputes), plus Stripe-shaped events signed with the endpoint
  secret, delivery and replay of webhooks, and waiting for their effects.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

import pytest
import requests
import stripe

REPO = Path(__file__).resolve().parents[2]
TEST_SECRET_KEY = "sk_test_" + "LocalStripeTestKey0123456789abcdef"
TEST_PUBLISHABLE_KEY = "pk_test_" + "LocalStripeTestKey0123456789abcdef"
TEST_WEBHOOK_SECRET = "whsec_" + "localstripe0test0webhook0secret"
WEBHOOK_ID = "fmugateway-tests"
# The events the server delivers to the live test server: the ones our handlers act on.
DELIVERED_EVENTS = [
    "customer.subscription.created",
    "customer.subscription.deleted",
    "customer.subscription.updated",
    "invoice.payment_failed",
    "invoice.payment_succeeded",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "setup_intent.succeeded",
    "charge.refunded",
    "transfer.reversed",
]


@pytest.fixture(scope="session")
def localstripe_url():
    """Start the local Stripe-compatible server on a free loopback port for this session."""
    log_path = Path(os.environ.get("VAR_DIR", REPO / "var" / "test")) / "localstripe.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "billing.stripe.local_server", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    deadline = time.monotonic() + 30
    port = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("LISTENING "):
            port = int(line.split()[1])
            break
        if not line and process.poll() is not None:
            break
    if port is None:
        process.kill()
        log.close()
        pytest.fail(f"the local Stripe server did not start; see {log_path}")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="session")
def pro_price_lookup_key(localstripe_url) -> str:
    # A key of its own per session: the cached price id of another run's server is no use.
    return f"fmugw-pro-{secrets.token_hex(4)}"


@pytest.fixture
def stripe_settings(settings, localstripe_url, pro_price_lookup_key):
    """Stripe configured for this test, pointed at the local server (never the real API)."""
    from billing.stripe import client, products

    settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = TEST_PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET
    settings.STRIPE_API_BASE = localstripe_url
    settings.STRIPE_JS_URL = f"{localstripe_url}/js.stripe.com/v3/"
    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_PRO_PRICE = pro_price_lookup_key
    client.configure()
    assert urlparse(stripe.api_base).hostname in {"127.0.0.1", "localhost"}, stripe.api_base
    products.sync_products()
    return settings


class StripeTestbed:
    """The outside world of a payment, for tests (see the module's docstring)."""

    def __init__(self, base_url: str, webhook_base: str | None = None):
        self.base_url = base_url
        self.webhook_base = webhook_base
        self.session = requests.Session()
        self.session.auth = (TEST_SECRET_KEY, "")

    # --- the server's API, as the browser and Stripe's pages use it
    def call(self, method: str, path: str, **data) -> dict:
        response = self.session.request(
            method, f"{self.base_url}{path}", data=_form(data) if data else None, timeout=10
        )
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json()

    def card(self, number: str = "4242424242424242") -> str:
        card = {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
        return self.call("POST", "/v1/payment_methods", type="card", card=card)["id"]

    def pay(self, payment_intent: str, number: str = "4242424242424242") -> dict:
        """What Stripe.js does with the client secret: attach a card, confirm."""
        self.call("POST", f"/v1/payment_intents/{payment_intent}", payment_method=self.card(number))
        return self.call("POST", f"/v1/payment_intents/{payment_intent}/confirm")

    def save_card(self, setup_intent: str, number: str = "4242424242424242") -> dict:
        """What Stripe.js does with a SetupIntent's client secret: confirm it with a card."""
        return self.call(
            "POST", f"/v1/setup_intents/{setup_intent}/confirm", payment_method=self.card(number)
        )

    def refund(self, payment_intent: str, amount: int | None = None) -> dict:
        data: dict[str, str | int] = {"payment_intent": payment_intent}
        if amount is not None:
            data["amount"] = amount
        return self.call("POST", "/v1/refunds", **data)

    def complete_checkout(self, session_id: str) -> dict:
        return self.call("POST", f"/_config/test/checkout/sessions/{session_id}/complete")

    def complete_onboarding(self, account_id: str) -> dict:
        return self.call("POST", f"/_config/test/accounts/{account_id}/complete_onboarding")

    def open_dispute(self, charge: str) -> dict:
        return self.call("POST", "/_config/test/disputes", charge=charge)

    def close_dispute(self, dispute: str, status: str) -> dict:
        return self.call("POST", f"/_config/test/disputes/{dispute}/close", status=status)

    def renew(self, subscription: str, **data) -> dict:
        """Stripe's clock: bill the subscription's next period now (the new invoice);
        ``payment_method``: charge this card instead of the subscription's."""
        return self.call("POST", f"/_config/test/subscriptions/{subscription}/renew", **data)

    def events(self, event_type: str) -> list[dict]:
        return self.call("GET", f"/v1/events?type={event_type}&limit=100")["data"]

    # --- webhooks
    def settle(self) -> None:
        """Wait until every event the server has sent so far is delivered and answered."""
        wait_for(lambda: _deliveries_under_way(self.base_url) == 0, what="webhook deliveries")

    def also_deliver(self, *events: str) -> None:
        """Deliver these events too (``account.updated`` from Connect, for instance)."""
        _deliver_webhooks_to(self.base_url, self.webhook_url(), [*DELIVERED_EVENTS, *events])

    def mute(self) -> None:
        """Stop the server's own deliveries (the test delivers events itself, in its order)."""
        _deliver_webhooks_to(self.base_url, NOWHERE)

    def webhook_url(self) -> str:
        from billing.stripe.endpoint import webhook_path

        return f"{self.webhook_base}{webhook_path()}"

    def deliver(self, event: dict, *, secret: str = TEST_WEBHOOK_SECRET) -> requests.Response:
        """POST a Stripe-shaped event signed with ``secret`` as Stripe does."""
        body = json.dumps(event)
        return self.post_webhook(body, sign(body, secret))

    def post_webhook(self, body: str, signature: str | None) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        return requests.post(self.webhook_url(), data=body, headers=headers, timeout=30)

    def replay(self, event_id: str, times: int = 10) -> None:
        """Deliver a webhook the server already delivered again, byte for byte."""
        from djstripe.models import WebhookEventTrigger

        trigger = (
            WebhookEventTrigger.objects.filter(event_id=event_id, valid=True).order_by("id").first()
        )
        assert trigger is not None, f"{event_id} was never delivered"
        signature = {key.lower(): value for key, value in trigger.headers.items()}[
            "stripe-signature"
        ]
        for _ in range(times):
            response = self.post_webhook(trigger.body, signature)
            assert response.status_code == 200, response.text


def _form(data: dict, prefix: str = "") -> dict:
    """Flatten nested data the way Stripe's form encoding does (``a[b]=c``)."""
    flat = {}
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            flat.update(_form(value, name))
        else:
            flat[name] = value
    return flat


def sign(payload: str, secret: str = TEST_WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header: ``t=<unix time>,v1=HMAC-SHA256(secret, "t.payload")``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(
        secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def stripe_event(event_type: str, obj: dict, *, account: str | None = None) -> dict:
    """A Stripe-shaped event around ``obj`` (Connect events name the connected ``account``)."""
    event = {
        "id": f"evt_test_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2026-05-27.dahlia",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    if account:
        event["account"] = account
    return event


def wait_for(predicate: Callable[[], _T | None], timeout: float = 20.0, what: str = "") -> _T:
    """Poll ``predicate`` until it is truthy (webhooks arrive about a second after the act)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.1)


_T = TypeVar("_T")

# Where deliveries go when no live server listens: a closed port (they fail at once).
NOWHERE = "http://127.0.0.1:9/"


def _deliveries_under_way(localstripe_url: str) -> int:
    response = requests.get(f"{localstripe_url}/_config/test/webhooks/under_way", timeout=10)
    response.raise_for_status()
    return response.json()["under_way"]


def _deliver_webhooks_to(
    localstripe_url: str, url: str, events: list[str] = DELIVERED_EVENTS
) -> None:
    """Point the server's deliveries at ``url`` (deliveries still waiting go there too)."""
    requests.post(
        f"{localstripe_url}/_config/webhooks/{WEBHOOK_ID}",
        data={"url": url, "secret": TEST_WEBHOOK_SECRET}
        | {f"events[{index}]": name for index, name in enumerate(events)},
        timeout=10,
    ).raise_for_status()


@pytest.fixture
def stripe_testbed(stripe_settings, localstripe_url) -> StripeTestbed:
    """The testbed without webhook deliveries (for tests in a transaction)."""
    _deliver_webhooks_to(localstripe_url, NOWHERE)
    return StripeTestbed(localstripe_url)


class _InFlight:
    """Requests the live server's threads are still handling (the test's own client requests
    run on the main thread and are not counted)."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    def _add(self, step: int) -> None:
        if threading.current_thread() is not threading.main_thread():
            with self.lock:
                self.count += step

    def started(self, sender, **kwargs):
        self._add(1)

    def finished(self, sender, **kwargs):
        self._add(-1)


@pytest.fixture
def stripe_live(
    stripe_settings, localstripe_url, live_server, transactional_db
) -> Iterator[StripeTestbed]:
    """The testbed with webhooks: the server delivers its signed events to the live server."""
    from django.core.signals import request_finished, request_started

    from billing.stripe.endpoint import ensure_endpoint

    base = live_server.url.replace("localhost", "127.0.0.1")
    ensure_endpoint(base)
    testbed = StripeTestbed(localstripe_url, webhook_base=base)
    in_flight = _InFlight()
    request_started.connect(in_flight.started, weak=False)
    request_finished.connect(in_flight.finished, weak=False)
    _deliver_webhooks_to(localstripe_url, testbed.webhook_url())
    try:
        yield testbed
    finally:
        # Late deliveries must not reach the next test's database, and one still being handled
        # must finish before the database is flushed (its locks deadlock the flush).
        _deliver_webhooks_to(localstripe_url, NOWHERE)
        testbed.settle()
        wait_for(lambda: in_flight.count <= 0, what="webhooks still being handled")
        request_started.disconnect(in_flight.started)
        request_finished.disconnect(in_flight.finished)
