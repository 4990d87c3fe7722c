"""A local Stripe-compatible server for development and the test suite: localstripe plus what it
lacks. A development tool: it needs the dev requirements (localstripe, aiohttp) and no product
module imports it; ``manage.py rundev`` starts it when no Stripe keys are set.

Run as ``python -m billing.stripe.local_server``; it listens on 127.0.0.1 (a free port unless
``--port``) and prints ``LISTENING <port>`` once it accepts connections. On top of localstripe
(customers, payment methods, PaymentIntents, charges, refunds, products, legacy plans,
subscriptions, invoices and signed webhook deliveries) it adds:

* ``GET /v1/account``: the platform account dj-stripe asks for when it sees an API key;
* prices (``/v1/prices``) as thin aliases of legacy plans, and ``items[][price]`` on subscriptions;
* ``charge.refunded`` events when a refund is created (localstripe sends none);
* a mock Stripe.js whose ``confirmCardPayment`` and ``confirmCardSetup`` take a card Element and
  confirm the intent with the publishable key and client secret, as the browser does at Stripe;
* ``setup_intent.succeeded`` events when a SetupIntent is confirmed with a card;
* invoices without a subscription (they collect the customer's pending invoice items), with
  numbers, hosted invoice pages and PDF links (placeholders under ``.invalid``);
* Connect Express accounts (``/v1/accounts``) and account links (``/v1/account_links``);
* transfers to connected accounts (``/v1/transfers``), refused like Stripe when the account
  cannot receive them, with ``Idempotency-Key`` replay (the first answer, for the same body),
  and their reversals (``/v1/transfers/{id}/reversals``, with ``transfer.reversed``);
* Checkout Sessions (``/v1/checkout/sessions``: payment, subscription and setup modes) and
  disputes (``/v1/disputes``), read-only, made and moved by the test-only routes under
  ``/_config/test/`` (what a buyer, Stripe's hosted page or a bank would do);
* subscriptions that start with a free period (``trial_end``: ``trialing``, no invoice) and pay
  with their own ``default_payment_method``, PaymentIntents that take ``setup_future_usage``, and
  a test-only route that bills a subscription's next period, as Stripe's clock would (a void
  invoice and no charge while its collection is paused with ``pause_collection``).

* hosted pages for what a person does at Stripe: ``/checkout/pay/{session}`` (Checkout: pay
  with a test card, then back to ``success_url``, or ``cancel_url``) and
  ``/connect/onboarding/{account}`` (Connect onboarding: finish it, ``account.updated``, back to
  ``return_url``).

Its store lives in memory (the tests), or with ``--store PATH`` in that file too, written after
each change and read at start (``rundev``: the app's database keeps the Stripe ids it made).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import logging
import os
import pickle
import re
import socket
import sys
import time
from pathlib import Path

from aiohttp import web
from localstripe import resources
from localstripe import server as ls
from localstripe import webhooks as ls_webhooks
from localstripe.errors import UserError
from localstripe.resources import (
    Charge,
    Customer,
    Event,
    Invoice,
    InvoiceItem,
    InvoiceLineItem,
    PaymentIntent,
    PaymentMethod,
    Plan,
    Refund,
    SetupIntent,
    StripeObject,
    Subscription,
    SubscriptionItem,
    schedule_webhook,
)

PLATFORM_ACCOUNT_ID = "acct_1LocalPlatform0000"

# --- the store: memory only, or a file of our choosing ----------------------------------------
# localstripe writes /tmp/localstripe.pickle on every change; here nothing is written unless
# --store names a file, and then after each request that changed something (objects are often
# changed after they are stored, which localstripe's own writes miss).
_store_path: Path | None = None
resources.Store.dump_to_disk = lambda self: None
resources.Store.try_load_from_disk = lambda self: None


def load_store(path: Path) -> None:
    """Read the store kept in ``path``; one that cannot be read (another localstripe version)
    is set aside as ``<path>.unreadable`` and the server starts empty, saying so in its log."""
    global _store_path
    _store_path = path
    if not path.exists():
        return
    try:
        with path.open("rb") as f:
            resources.store.update(pickle.load(f))  # noqa: S301  # our own file under VAR_DIR
    except Exception:
        aside = path.with_name(path.name + ".unreadable")
        os.replace(path, aside)
        logging.getLogger(__name__).exception("Could not read %s; set aside as %s", path, aside)


def save_store() -> None:
    if _store_path is None:
        return
    temporary = _store_path.with_suffix(".tmp")
    with temporary.open("wb") as f:
        pickle.dump(dict(resources.store), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(temporary, _store_path)  # a crash mid-write leaves the previous store


@web.middleware
async def persist(request, handler):
    try:
        return await handler(request)
    finally:
        if request.method != "GET":
            save_store()


# --- prices as aliases of legacy plans -----------------------------------------------------


def _price_of(plan: Plan) -> dict:
    return {
        "id": plan.id,
        "object": "price",
        "active": plan.active,
        "billing_scheme": plan.billing_scheme,
        "created": plan.created,
        "currency": plan.currency,
        "livemode": False,
        "lookup_key": None if plan.id.startswith("plan_") else plan.id,
        "metadata": plan.metadata,
        "nickname": plan.nickname,
        "product": plan.product,
        "recurring": {
            "interval": plan.interval,
            "interval_count": plan.interval_count,
            "usage_type": plan.usage_type,
            "trial_period_days": plan.trial_period_days,
            "aggregate_usage": None,
            "meter": None,
        },
        "tax_behavior": "unspecified",
        "tiers_mode": plan.tiers_mode,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": plan.amount,
        "unit_amount_decimal": str(plan.amount),
    }


async def create_price(request):
    data = await ls.get_post_data(request) or {}
    recurring = data.pop("recurring", None) or {}
    if not recurring.get("interval"):
        raise UserError(400, "Only recurring prices are supported here")
    plan = Plan(
        id=data.pop("lookup_key", None),
        amount=data.pop("unit_amount", None),
        currency=data.pop("currency", None),
        product=data.pop("product", None),
        interval=recurring.get("interval"),
        interval_count=recurring.get("interval_count", 1),
        nickname=data.pop("nickname", None),
        metadata=data.pop("metadata", None),
        **{key: value for key, value in data.items() if key == "active"},
    )
    return ls.json_response(_price_of(plan))


def product_features(request):
    resources.Product._api_retrieve(request.match_info["id"])
    return ls.json_response({"object": "list", "data": [], "has_more": False})


def retrieve_price(request):
    return ls.json_response(_price_of(Plan._api_retrieve(request.match_info["id"])))


def list_prices(request):
    data = ls.unflatten_data(request.query)
    plans = [value for key, value in resources.store.items() if key.startswith("plan:")]
    if data.get("product"):
        plans = [plan for plan in plans if plan.product == data["product"]]
    if data.get("lookup_keys"):
        plans = [plan for plan in plans if plan.id in data["lookup_keys"]]
    return ls.json_response(
        {
            "object": "list",
            "url": "/v1/prices",
            "has_more": False,
            "data": [_price_of(plan) for plan in plans],
        }
    )


_subscription_init = Subscription.__init__


def _subscription_init_with_prices(self, *args, items=None, **kwargs):
    for item in items or []:
        if "price" in item and "plan" not in item:
            item["plan"] = item.pop("price")
    kwargs.pop("expand", None)
    _subscription_init(self, *args, items=items, **kwargs)
    if self.default_tax_rates is None:  # Stripe sends a list; dj-stripe iterates it
        self.default_tax_rates = []


Subscription.__init__ = _subscription_init_with_prices
SubscriptionItem.price = property(lambda self: _price_of(self.plan))
SubscriptionItem.subscription = property(lambda self: self._subscription)
SubscriptionItem.current_period_start = property(lambda self: self._current_period()["start"])
SubscriptionItem.current_period_end = property(lambda self: self._current_period()["end"])


_invoice_init = Invoice.__init__


def _invoice_init_with_lists(self, *args, **kwargs):
    _invoice_init(self, *args, **kwargs)
    if self.default_tax_rates is None:
        self.default_tax_rates = []
    # What Stripe shows buyers: a number, the hosted invoice page and its PDF.
    self.number = f"LOCAL-{self.id[-8:].upper()}"
    self.hosted_invoice_url = f"https://invoice.localstripe.invalid/{self.id}"
    self.invoice_pdf = f"https://invoice.localstripe.invalid/{self.id}/pdf"


Invoice.__init__ = _invoice_init_with_lists
# dj-stripe expands ``discounts`` (the list that replaced ``discount``).
for _cls in (Invoice, InvoiceItem, InvoiceLineItem):
    _cls.discounts = property(lambda self: [])


_pay_invoice = Invoice._api_pay_invoice


def _pay_invoice_reporting_failure(id):
    """Like Stripe: a declined invoice payment sends invoice.payment_failed, puts the
    subscription past due and answers 402 (localstripe says nothing and answers 200)."""
    invoice = _pay_invoice(id)
    charge = invoice.charge
    if charge is not None and charge.status == "failed":
        intent = PaymentIntent._api_retrieve(invoice.payment_intent)
        schedule_webhook(Event("payment_intent.payment_failed", intent))
        invoice._on_payment_failure_now()
        raise UserError(402, charge.failure_message, {"code": charge.failure_code})
    return invoice


async def _create_invoice(request):
    """Like Stripe: an invoice without a subscription collects the customer's pending invoice
    items (localstripe only invoices subscriptions)."""
    data = await ls.get_post_data(request) or {}
    for ignored in ("auto_advance", "pending_invoice_items_behavior", "collection_method"):
        data.pop(ignored, None)
    invoice = Invoice(
        customer=data.pop("customer", None),
        description=data.pop("description", None),
        metadata=data.pop("metadata", None),
    )
    if not invoice.lines._list:
        raise UserError(400, "Nothing to invoice for customer")
    return ls.json_response(invoice._export())


@web.middleware
async def overrides(request, handler):
    """Routes of localstripe's that behave differently here (registered before this module)."""
    match = re.fullmatch(r"/v1/invoices/([^/]+)/pay", request.path)
    if request.method == "POST" and match:
        return ls.json_response(_pay_invoice_reporting_failure(match.group(1))._export())
    if request.method == "GET" and request.path == "/js.stripe.com/v3/":
        return await stripe_js(request)
    if request.method == "POST" and request.path == "/v1/invoices":
        data = await ls.get_post_data(request) or {}
        if not data.get("subscription"):
            return await _create_invoice(request)
    return await handler(request)


ls.app.middlewares.append(overrides)


# --- charge.refunded -----------------------------------------------------------------------
_refund_init = Refund.__init__


def _refund_init_with_event(self, *args, **kwargs):
    _refund_init(self, *args, **kwargs)
    schedule_webhook(Event("charge.refunded", Charge._api_retrieve(self.charge)))


Refund.__init__ = _refund_init_with_event


# --- the platform account and Connect Express accounts ------------------------------------


def platform_account(request):
    return ls.json_response(
        {
            "id": PLATFORM_ACCOUNT_ID,
            "object": "account",
            "type": "standard",
            "business_profile": {"name": "FMU Gateway (local)", "url": None},
            "business_type": "company",
            "capabilities": {"card_payments": "active", "transfers": "active"},
            "charges_enabled": True,
            "country": "US",
            "created": 1700000000,
            "default_currency": "usd",
            "details_submitted": True,
            "email": "platform@example.com",
            "metadata": {},
            "payouts_enabled": True,
            "settings": {"dashboard": {"display_name": "FMU Gateway (local)", "timezone": "UTC"}},
        }
    )


class Account(StripeObject):
    object = "account"
    _id_prefix = "acct_"

    def __init__(
        self,
        type=None,
        email=None,
        country="US",
        metadata=None,
        capabilities=None,
        business_type=None,
        business_profile=None,
        controller=None,
        **kwargs,
    ):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        if type not in ("express", "standard", "custom", None):
            raise UserError(400, "Bad request")
        super().__init__()
        self.type = type or "express"
        self.email = email
        self.country = country
        self.metadata = metadata or {}
        self.business_type = business_type
        self.business_profile = business_profile or {}
        self.default_currency = "usd"
        self.charges_enabled = False
        self.payouts_enabled = False
        self.details_submitted = False
        self.capabilities = dict.fromkeys(capabilities or {}, "inactive")
        self.requirements = {
            "currently_due": ["external_account", "tos_acceptance.date"],
            "disabled_reason": "requirements.past_due",
        }
        self.settings = {"dashboard": {"display_name": email or self.id}}


for _method, _url, _view in (
    ("POST", "/v1/accounts", ls.api_create),
    ("GET", "/v1/accounts/{id}", ls.api_retrieve),
    ("POST", "/v1/accounts/{id}", ls.api_update),
    ("GET", "/v1/accounts", ls.api_list_all),
):
    ls.app.router.add_route(_method, _url, _view(Account, _url))


async def create_account_link(request):
    data = await ls.get_post_data(request) or {}
    account = data.get("account")
    if not account or not data.get("refresh_url") or not data.get("return_url"):
        raise UserError(400, "Bad request")
    # Where the hosted onboarding page sends the creator back (the link's URL has no query, as
    # at Stripe).
    Account._api_retrieve(account)._return_url = data["return_url"]
    now = int(time.time())
    return ls.json_response(
        {
            "object": "account_link",
            "created": now,
            "expires_at": now + 300,
            "url": f"{request.scheme}://{request.host}/connect/onboarding/{account}",
        }
    )


def _finish_onboarding(account: Account) -> Account:
    """What finishing Stripe's hosted onboarding does: details submitted, charges and payouts
    enabled, and ``account.updated`` sent."""
    account.charges_enabled = account.payouts_enabled = account.details_submitted = True
    account.capabilities = {"card_payments": "active", "transfers": "active"}
    account.requirements = {"currently_due": [], "disabled_reason": None}
    schedule_webhook(Event("account.updated", account))
    return account


async def complete_onboarding(request):
    """Test-only: the creator finished Stripe's hosted onboarding."""
    account = _finish_onboarding(Account._api_retrieve(request.match_info["id"]))
    return ls.json_response(account._export())


# --- transfers to connected accounts ------------------------------------------------------


class Transfer(StripeObject):
    object = "transfer"
    _id_prefix = "tr_"

    def __init__(
        self,
        amount=None,
        currency=None,
        destination=None,
        transfer_group=None,
        description=None,
        metadata=None,
        **kwargs,
    ):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        amount = resources.try_convert_to_int(amount)
        if not isinstance(amount, int) or amount <= 0 or not currency:
            raise UserError(400, "Bad request", {"code": "parameter_invalid_integer"})
        account = resources.store.get(f"account:{destination}") if destination else None
        if account is None:
            raise UserError(
                400,
                f"No such destination: '{destination}'",
                {"code": "resource_missing", "param": "destination"},
            )
        if account.capabilities.get("transfers") != "active":
            raise UserError(
                400,
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                {"code": "insufficient_capabilities_for_transfer", "param": "destination"},
            )
        super().__init__()
        self.amount = amount
        self.amount_reversed = 0
        self.currency = currency.lower()
        self.destination = destination
        self.destination_payment = "py_" + resources.random_id(14)
        self.transfer_group = transfer_group
        self.description = description
        self.metadata = metadata or {}
        self.reversed = False
        self.reversals = {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/transfers/{self.id}/reversals",
        }
        self.balance_transaction = None
        self.source_transaction = None


async def reverse_transfer(request):
    """``POST /v1/transfers/{id}/reversals``: take (part of) a transfer back, as the platform
    may in the Dashboard; sends ``transfer.reversed`` like Stripe."""
    transfer = Transfer._api_retrieve(request.match_info["id"])
    data = await ls.get_post_data(request) or {}
    left = transfer.amount - transfer.amount_reversed
    amount = resources.try_convert_to_int(data.get("amount", left))
    if not isinstance(amount, int) or amount <= 0 or amount > left:
        raise UserError(400, "Bad request", {"code": "parameter_invalid_integer"})
    transfer.amount_reversed += amount
    transfer.reversed = transfer.amount_reversed == transfer.amount
    reversal = {
        "id": "trr_" + resources.random_id(14),
        "object": "transfer_reversal",
        "amount": amount,
        "currency": transfer.currency,
        "transfer": transfer.id,
        "created": int(time.time()),
        "metadata": {},
        "balance_transaction": None,
        "destination_payment_refund": None,
        "source_refund": None,
    }
    transfer.reversals["data"].insert(0, reversal)
    transfer.reversals["total_count"] += 1
    schedule_webhook(Event("transfer.reversed", transfer))
    return ls.json_response(reversal)


def list_transfers(request):
    data = ls.unflatten_data(request.query)
    transfers = [value for key, value in resources.store.items() if key.startswith("transfer:")]
    for field in ("destination", "transfer_group"):
        if data.get(field):
            transfers = [t for t in transfers if getattr(t, field) == data[field]]
    transfers.sort(key=lambda t: t.created, reverse=True)
    return ls.json_response(
        {
            "object": "list",
            "url": "/v1/transfers",
            "has_more": False,
            "data": [transfer._export() for transfer in transfers],
        }
    )


# (idempotency key, body) -> first successful answer; Stripe keeps them for 24 hours.
_idempotent_answers: dict[str, tuple[bytes, int, bytes]] = {}


@web.middleware
async def idempotent_transfers(request, handler):
    """Stripe's ``Idempotency-Key`` for transfers: the same key and body replay the first
    answer; the same key with another body is refused (``idempotency_error``)."""
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or request.path != "/v1/transfers" or not key:
        return await handler(request)
    body = await request.read()
    seen = _idempotent_answers.get(key)
    if seen is not None:
        if seen[0] != body:
            return ls.json_response(
                {
                    "error": {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the "
                        "same parameters they were first used with.",
                    }
                },
                status=400,
            )
        return web.Response(
            body=seen[2],
            status=seen[1],
            content_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    response = await handler(request)
    if response.status < 300:
        _idempotent_answers[key] = (body, response.status, response.body)
    return response


ls.app.middlewares.append(idempotent_transfers)


# --- Checkout Sessions ---------------------------------------------------------------------


class Session(StripeObject):
    object = "checkout.session"
    _id_prefix = "cs_test_"

    def __init__(
        self,
        mode=None,
        customer=None,
        line_items=None,
        success_url=None,
        cancel_url=None,
        metadata=None,
        client_reference_id=None,
        payment_intent_data=None,
        subscription_data=None,
        setup_intent_data=None,
        currency=None,
        **kwargs,
    ):
        if mode not in ("payment", "subscription", "setup") or not success_url:
            raise UserError(400, "Bad request")
        if (mode == "setup") != (not line_items) or (mode == "setup" and not currency):
            raise UserError(400, "Bad request")
        if customer is not None:
            Customer._api_retrieve(customer)
        super().__init__()
        self.mode = mode
        self.customer = customer
        self.success_url = success_url
        self.cancel_url = cancel_url
        self.metadata = metadata or {}
        self.client_reference_id = client_reference_id
        self.status = "open"
        self.payment_status = "unpaid"
        self.payment_intent = None
        self.setup_intent = None
        self.subscription = None
        self.invoice = None
        self.currency = currency
        self.amount_total = 0
        self._line_items = line_items or []
        self._payment_intent_data = payment_intent_data or {}
        self._subscription_data = subscription_data or {}
        self._setup_intent_data = setup_intent_data or {}
        for item in self._line_items:
            quantity = int(item.get("quantity", 1))
            if item.get("price"):
                plan = Plan._api_retrieve(item["price"])
                self.currency = plan.currency
                self.amount_total += plan.amount * quantity
            else:
                price_data = item.get("price_data") or {}
                self.currency = price_data.get("currency")
                self.amount_total += int(price_data.get("unit_amount", 0)) * quantity
        self.expires_at = self.created + 24 * 3600
        self.url = f"https://checkout.localstripe.invalid/pay/{self.id}"


async def create_session(request):
    data = await ls.get_post_data(request) or {}
    data.pop("expand", None)
    session = Session(**data)
    session.url = f"{request.scheme}://{request.host}/checkout/pay/{session.id}"
    return ls.json_response(session._export())


def retrieve_session(request):
    return ls.json_response(Session._api_retrieve(request.match_info["id"])._export())


def _pay_with_new_card(customer: str | None, number: str = "4242424242424242") -> PaymentMethod:
    card = {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    method = PaymentMethod(type="card", card=card)
    if customer:
        PaymentMethod._api_attach(method.id, customer=customer)
    return method


def _complete_session(session: Session, number: str = "4242424242424242") -> Session:
    """The buyer paid (or saved a card) on the hosted Checkout page with the card ``number``;
    ``checkout.session.completed`` follows, as at Stripe."""
    if session.status != "open":
        raise UserError(400, "This session is not open")
    method = _pay_with_new_card(session.customer, number)
    if session.mode == "payment":
        intent = PaymentIntent(
            amount=session.amount_total,
            currency=session.currency,
            customer=session.customer,
            payment_method=method.id,
            metadata=session._payment_intent_data.get("metadata") or session.metadata,
        )
        intent._confirm(on_failure_now=lambda: None)
        session.payment_intent = intent.id
    elif session.mode == "setup":
        setup = SetupIntent(
            customer=session.customer,
            metadata=session._setup_intent_data.get("metadata") or session.metadata,
        )
        setup._attach_pm(method)
        session.setup_intent = setup.id
    else:
        Customer._api_update(
            session.customer, invoice_settings={"default_payment_method": method.id}
        )
        item = session._line_items[0]
        subscription = Subscription(
            customer=session.customer,
            items=[{"plan": item["price"], "quantity": item.get("quantity", 1)}],
            metadata=session._subscription_data.get("metadata") or session.metadata,
        )
        session.subscription = subscription.id
        session.invoice = subscription.latest_invoice
    session.status = "complete"
    session.payment_status = "no_payment_required" if session.mode == "setup" else "paid"
    schedule_webhook(Event("checkout.session.completed", session))
    return session


async def complete_session(request):
    """Test-only: the buyer paid on the hosted Checkout page."""
    session = _complete_session(Session._api_retrieve(request.match_info["id"]))
    return ls.json_response(session._export())


# --- disputes ------------------------------------------------------------------------------


class Dispute(StripeObject):
    object = "dispute"
    _id_prefix = "dp_"

    def __init__(self, charge=None, reason="fraudulent", amount=None, **kwargs):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        charge_obj = Charge._api_retrieve(charge)
        super().__init__()
        self.charge = charge
        self.payment_intent = charge_obj.payment_intent
        self.amount = int(amount) if amount is not None else charge_obj.amount
        self.currency = charge_obj.currency
        self.reason = reason
        self.status = "needs_response"
        self.is_charge_refundable = False
        self.balance_transactions = []
        self.evidence = {}
        self.evidence_details = {"due_by": self.created + 7 * 24 * 3600, "submission_count": 0}
        self.metadata = {}


async def create_dispute(request):
    """Test-only: the card holder's bank opened a dispute."""
    data = await ls.get_post_data(request) or {}
    return ls.json_response(Dispute(**data)._export())


async def close_dispute(request):
    """Test-only: the dispute was decided (``status`` won or lost)."""
    data = await ls.get_post_data(request) or {}
    dispute = Dispute._api_retrieve(request.match_info["id"])
    if data.get("status") not in ("won", "lost"):
        raise UserError(400, "Bad request")
    dispute.status = data["status"]
    return ls.json_response(dispute._export())


# --- Stripe.js confirming a PaymentIntent or a SetupIntent with a card -----------------------
# localstripe's mock Stripe.js only authenticates (3-D Secure) an intent that already has a card.
# Real Stripe.js sends the card Element's data to /v1/payment_intents/:id/confirm with the
# publishable key and the intent's client secret; this does the same on both sides.
CONFIRM_CARD_PAYMENT_JS = r"""
(function () {
  const mock = Stripe;
  Stripe = (apiKey) => {
    const stripe = mock(apiKey);
    const authenticate = stripe.confirmCardPayment;
    // Confirm a PaymentIntent ('payment_intents') or a SetupIntent ('setup_intents') with the
    // card typed in the Element: the body of the intent, or {error}.
    const confirmWithCard = async (intents, clientSecret, element) => {
      const card = (element.value || {}).card || {};
      if (!card.number || !card.exp_month || !card.cvc) {
        return {error: {type: 'validation_error', message: 'Your card details are incomplete.'}};
      }
      const id = clientSecret.match(/^((?:pi|seti)_\w+)_secret_/)[1];
      const response = await fetch(`${LOCALSTRIPE_BASE_API}/v1/${intents}/${id}/confirm`, {
        method: 'POST',
        body: JSON.stringify({
          key: apiKey, client_secret: clientSecret,
          payment_method_data: {type: 'card', card: card},
        }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.status !== 200 || body.error) {
        return {error: body.error || {message: 'The card was not accepted.'}};
      }
      return body;
    };
    stripe.confirmCardPayment = async (clientSecret, data) => {
      const element = data && data.payment_method && data.payment_method.card;
      if (!(element instanceof Element)) return authenticate(clientSecret, data);
      const body = await confirmWithCard('payment_intents', clientSecret, element);
      if (body.error) return body;
      if (body.status === 'requires_action') return authenticate(clientSecret, data);
      return {paymentIntent: body};
    };
    stripe.confirmCardSetup = async (clientSecret, data) => {
      const element = data && data.payment_method && data.payment_method.card;
      const body = await confirmWithCard('setup_intents', clientSecret, element || {});
      return body.error ? body : {setupIntent: body};
    };
    return stripe;
  };
})();
"""


@web.middleware
async def confirm_with_client_secret(request, handler):
    """``POST /v1/payment_intents/:id/confirm`` (or ``/v1/setup_intents/:id/confirm``) from a
    browser: the publishable key and the intent's client secret authorise it,
    ``payment_method_data`` is the card (as at Stripe)."""
    match = re.fullmatch(r"/v1/(payment|setup)_intents/((?:pi|seti)_\w+)/confirm", request.path)
    if request.method != "POST" or not match or ls.get_api_key(request):
        return await handler(request)
    data = await ls.get_post_data(request, remove_auth=False) or {}
    if not str(data.get("key", "")).startswith("pk_"):
        return await handler(request)  # localstripe's own checks refuse it
    setup = match.group(1) == "setup"
    intent = (SetupIntent if setup else PaymentIntent)._api_retrieve(match.group(2))
    if data.get("client_secret") != intent.client_secret:
        raise UserError(401, "Unauthorized")
    if intent.status not in ("requires_payment_method", "requires_confirmation"):
        raise UserError(400, f"This intent is {intent.status}.")
    method = PaymentMethod(**(data.get("payment_method_data") or {}))
    if setup:
        intent._attach_pm(method)
    else:
        intent.payment_method = method.id
        intent._confirm(on_failure_now=intent._report_failure)
    return ls.json_response(intent._export())


async def stripe_js(request):
    """localstripe's mock Stripe.js, with ``confirmCardPayment`` taking a card Element."""
    response = ls.localstripe_js(request)
    response.text = response.text + CONFIRM_CARD_PAYMENT_JS
    return response


# Before localstripe's authentication, which knows only secret keys for this route.
ls.app.middlewares.insert(1, confirm_with_client_secret)


# --- subscriptions with a free first period, and their renewals -------------------------------
_subscription_init_prices = Subscription.__init__


def _subscription_init_with_trial(self, *args, default_payment_method=None, **kwargs):
    _subscription_init_prices(self, *args, **kwargs)
    self.default_payment_method = default_payment_method
    if self.trial_end is not None and self.latest_invoice is None:
        self.status = "trialing"  # Stripe: no invoice until the free period ends
        self.trial_start = self.start_date


Subscription.__init__ = _subscription_init_with_trial
_subscription_update = Subscription._update


def _subscription_update_pausing(self, *args, pause_collection=None, **kwargs):
    """``pause_collection``: ``{"behavior": "void"}`` pauses billing (renewals make void
    invoices, nothing is charged); ``""`` resumes it."""
    if pause_collection is not None:
        if pause_collection == "":
            self.pause_collection = None
        elif isinstance(pause_collection, dict) and pause_collection.get("behavior") in (
            "void",
            "keep_as_draft",
            "mark_uncollectible",
        ):
            self.pause_collection = {"behavior": pause_collection["behavior"], "resumes_at": None}
        else:
            raise UserError(400, "Bad request", {"param": "pause_collection"})
    return _subscription_update(self, *args, **kwargs)


Subscription._update = _subscription_update_pausing
Subscription.pause_collection = None  # read by _export like the other attributes
_payment_intent_init = PaymentIntent.__init__


def _payment_intent_init_saving_cards(self, *args, setup_future_usage=None, **kwargs):
    _payment_intent_init(self, *args, **kwargs)
    self.setup_future_usage = setup_future_usage


PaymentIntent.__init__ = _payment_intent_init_saving_cards
_setup_intent_attach = SetupIntent._attach_pm


def _setup_intent_attach_reporting(self, pm):
    """A SetupIntent that succeeds sends ``setup_intent.succeeded`` (localstripe sends none)."""
    _setup_intent_attach(self, pm)
    if self.status == "succeeded":
        schedule_webhook(Event("setup_intent.succeeded", self))


SetupIntent._attach_pm = _setup_intent_attach_reporting


async def renew_subscription(request):
    """Test-only: the subscription's period ended; Stripe bills the next one and charges its
    default payment method (else the customer's; ``payment_method``: this card). Paid:
    ``invoice.paid``, ``invoice.payment_succeeded``; declined: ``invoice.payment_failed`` and
    ``past_due``."""
    data = await ls.get_post_data(request) or {}
    sub = Subscription._api_retrieve(request.match_info["id"])
    if sub.status in ("canceled", "incomplete_expired"):
        raise UserError(400, "This subscription has ended")
    if sub.status == "trialing" and sub.trial_end:
        sub.start_date = sub.trial_end
    else:
        sub.start_date = sub.current_period_end
    sub.trial_end = None
    invoice = Invoice(customer=sub.customer, subscription=sub.id, items=[sub.items._list[0]])
    invoice.billing_reason = "subscription_cycle"
    invoice._finalize()
    if sub.pause_collection:  # paused: the period's invoice is voided, nothing is charged
        invoice._voided = True
        sub.status = "active"
        schedule_webhook(Event("invoice.voided", invoice))
        schedule_webhook(Event("customer.subscription.updated", sub))
        return ls.json_response(invoice._export())
    method = data.get("payment_method") or sub.default_payment_method  # a card declined now
    if method is None:
        default = Customer._api_retrieve(sub.customer)._get_default_payment_method_or_source()
        method = default.id if default is not None else None
    if method is None:
        raise UserError(400, "No payment method to charge")
    intent = PaymentIntent(
        amount=invoice.total,
        currency=invoice.currency,
        customer=sub.customer,
        payment_method=method,
    )
    invoice.payment_intent = intent.id
    intent.invoice = invoice.id
    intent._confirm(on_failure_now=lambda: None)
    if invoice.status == "paid":
        invoice._on_payment_success()
        schedule_webhook(Event("invoice.paid", invoice))
        sub.status = "active"
    else:
        invoice._on_payment_failure_now()
    schedule_webhook(Event("customer.subscription.updated", sub))
    return ls.json_response(invoice._export())


# --- deliveries still on their way ------------------------------------------------------------
# localstripe sends each event a second after the act, in a task of its own. A test that stops
# deliveries must also wait for the ones already under way, or a late one lands in the next
# test's database (and its locks deadlock that test's flush).
_deliveries_under_way = 0
_send_webhook = ls_webhooks._send_webhook


async def _send_webhook_counted(event):
    global _deliveries_under_way
    _deliveries_under_way += 1
    try:
        await _send_webhook(event)
    finally:
        _deliveries_under_way -= 1


ls_webhooks._send_webhook = _send_webhook_counted


async def deliveries_under_way(request):
    """Test-only: how many webhook deliveries are still waiting or being sent."""
    return ls.json_response({"under_way": _deliveries_under_way})


# --- hosted pages: what a person does at Stripe ---------------------------------------------
# Stripe Checkout and Connect onboarding are pages on Stripe's site; the app only redirects to
# them. These stand-ins do the same as the test-only routes above, from a browser, and send the
# person back where Stripe would.
TEST_CARDS = (
    ("4242 4242 4242 4242", "succeeds"),
    ("4000 0000 0000 0002", "is declined"),
)
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · local Stripe test server</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem;
  color: #1a1f36; }}
.badge {{ display: inline-block; background: #ffde92; color: #5c3b00; font-weight: 700;
  padding: .15rem .5rem; border-radius: .25rem; font-size: .8rem; }}
label {{ display: block; margin: .8rem 0 .2rem; }}
input {{ font: inherit; padding: .4rem; width: 100%; box-sizing: border-box; }}
button {{ font: inherit; margin-top: 1rem; padding: .5rem 1.2rem; background: #635bff;
  color: #fff; border: 0; border-radius: .3rem; cursor: pointer; }}
.error {{ color: #b00020; font-weight: 600; }}
.amount {{ font-size: 1.6rem; font-weight: 700; }}
code {{ background: #f0f1f5; padding: 0 .2rem; }}
</style></head>
<body><p><span class="badge">TEST MODE</span> Local Stripe test server: no real money moves.</p>
<h1>{title}</h1>
{body}
</body></html>
"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_PAGE.format(title=html.escape(title), body=body),
        status=status,
        content_type="text/html",
    )


def _money(amount: int, currency: str | None) -> str:
    return f"{amount / 100:.2f} {(currency or '').upper()}".strip()


def _checkout_form(session: Session, error: str = "", number: str = "") -> web.Response:
    if session.status != "open":
        return _page("Checkout", "<p>This checkout session is no longer open.</p>", status=400)
    if session.mode == "setup":
        what = "<p>Save a card for later payments.</p>"
    elif session.mode == "subscription":
        what = f'<p class="amount">{_money(session.amount_total, session.currency)} a period</p>'
    else:
        what = f'<p class="amount">{_money(session.amount_total, session.currency)}</p>'
    cards = "".join(f"<li><code>{card}</code> {outcome}</li>" for card, outcome in TEST_CARDS)
    cancel = (
        f'<p><a href="{html.escape(session.cancel_url)}">Cancel and go back</a></p>'
        if session.cancel_url
        else ""
    )
    body = f"""{what}
<p>Test cards (any future expiry date, any CVC):</p><ul>{cards}</ul>
{f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""}
<form method="post">
<label for="number">Card number</label>
<input id="number" name="number" inputmode="numeric" autocomplete="off" required
 value="{html.escape(number)}" placeholder="4242 4242 4242 4242">
<label for="expiry">Expiry (MM / YY)</label>
<input id="expiry" name="expiry" required placeholder="12 / 34">
<label for="cvc">CVC</label>
<input id="cvc" name="cvc" required placeholder="123">
<button type="submit">{"Save card" if session.mode == "setup" else "Pay"}</button>
</form>
{cancel}"""
    return _page("Checkout", body, status=400 if error else 200)


def _return_to(url: str, session_id: str) -> str:
    return url.replace("{CHECKOUT_SESSION_ID}", session_id)


async def checkout_page(request, session_id: str):
    """The hosted Checkout page: pay with a test card, then back to ``success_url``."""
    session = resources.store.get(f"checkout.session:{session_id}")
    if session is None:
        return _page("Checkout", "<p>No such checkout session.</p>", status=404)
    if request.method == "GET":
        return _checkout_form(session)
    form = await request.post()
    number = re.sub(r"[\s-]", "", str(form.get("number", "")))
    if not re.fullmatch(r"\d{12,19}", number):
        return _checkout_form(session, "Your card number is incomplete.", number)
    if session.status != "open":
        return _checkout_form(session)
    card = {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    probe = PaymentMethod(type="card", card=card)
    if probe._attaching_is_declined() or probe._charging_is_declined():
        return _checkout_form(session, "Your card was declined. Try another card.", number)
    _complete_session(session, number)
    raise web.HTTPSeeOther(_return_to(session.success_url, session.id))


async def onboarding_page(request, account_id: str):
    """The hosted Connect onboarding page: finish it, then back to the link's ``return_url``."""
    account = resources.store.get(f"account:{account_id}")
    if account is None:
        return _page("Connect onboarding", "<p>No such account.</p>", status=404)
    if request.method == "POST":
        _finish_onboarding(account)
        return_url = getattr(account, "_return_url", None)
        if return_url:
            raise web.HTTPSeeOther(return_url)
        return _page("Connect onboarding", "<p>Onboarding complete. You can close this page.</p>")
    state = "complete" if account.details_submitted else "not finished"
    body = f"""<p>Payout account <code>{html.escape(account.id)}</code>
({html.escape(account.email or "no email")}): onboarding {state}.</p>
<p>At Stripe this is where the creator gives identity and bank details. Here one click submits
test details: charges and payouts are enabled and the platform is told
(<code>account.updated</code>).</p>
<form method="post"><button type="submit">Complete onboarding</button></form>"""
    return _page("Connect onboarding", body)


@web.middleware
async def hosted_pages(request, handler):
    """The hosted pages need no API key (before localstripe's authentication)."""
    if request.method in ("GET", "POST"):
        if request.path.startswith("/checkout/pay/"):
            return await checkout_page(request, request.path.rsplit("/", 1)[1])
        if request.path.startswith("/connect/onboarding/"):
            return await onboarding_page(request, request.path.rsplit("/", 1)[1])
    return await handler(request)


# --- routes --------------------------------------------------------------------------------
for _method, _url, _view in (
    ("GET", "/v1/account", platform_account),
    ("POST", "/v1/account_links", create_account_link),
    ("POST", "/v1/prices", create_price),
    ("GET", "/v1/prices/{id}", retrieve_price),
    ("GET", "/v1/prices", list_prices),
    ("GET", "/v1/products/{id}/features", product_features),
    ("POST", "/v1/checkout/sessions", create_session),
    ("GET", "/v1/checkout/sessions/{id}", retrieve_session),
    ("GET", "/v1/disputes/{id}", ls.api_retrieve(Dispute, "/v1/disputes/{id}")),
    ("POST", "/v1/transfers", ls.api_create(Transfer, "/v1/transfers")),
    ("GET", "/v1/transfers/{id}", ls.api_retrieve(Transfer, "/v1/transfers/{id}")),
    ("GET", "/v1/transfers", list_transfers),
    ("POST", "/v1/transfers/{id}/reversals", reverse_transfer),
    ("POST", "/_config/test/accounts/{id}/complete_onboarding", complete_onboarding),
    ("POST", "/_config/test/checkout/sessions/{id}/complete", complete_session),
    ("POST", "/_config/test/disputes", create_dispute),
    ("POST", "/_config/test/disputes/{id}/close", close_dispute),
    ("POST", "/_config/test/subscriptions/{id}/renew", renew_subscription),
    ("GET", "/_config/test/webhooks/under_way", deliveries_under_way),
):
    ls.app.router.add_route(_method, _url, _view)

ls.app.middlewares.insert(0, hosted_pages)
ls.app.middlewares.insert(0, persist)


async def _serve(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    runner = web.AppRunner(ls.app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--store", type=Path, help="keep the store in this file too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    if args.store:
        load_store(args.store)
    asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
