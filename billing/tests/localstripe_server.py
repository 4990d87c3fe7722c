"""A local Stripe-compatible server for the test suite: localstripe plus what it lacks.

Run as ``python -m billing.tests.localstripe_server``; it listens on 127.0.0.1 (a free port unless
``--port``) and prints ``LISTENING <port>`` once it accepts connections. On top of localstripe
(customers, payment methods, PaymentIntents, charges, refunds, products, legacy plans,
subscriptions, invoices and signed webhook deliveries) it adds:

* ``GET /v1/account``: the platform account dj-stripe asks for when it sees an API key;
* prices (``/v1/prices``) as thin aliases of legacy plans, and ``items[][price]`` on subscriptions;
* ``charge.refunded`` events when a refund is created (localstripe sends none);
* invoices without a subscription (they collect the customer's pending invoice items), with
  numbers, hosted invoice pages and PDF links (placeholders under ``.invalid``);
* Connect Express accounts (``/v1/accounts``) and account links (``/v1/account_links``);
* Checkout Sessions (``/v1/checkout/sessions``) and disputes (``/v1/disputes``), read-only, made
  and moved by the test-only routes under ``/_config/test/`` (what a buyer, Stripe's hosted page
  or a bank would do).

Its store lives in memory only (localstripe's pickle file in /tmp is not written).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import socket
import sys
import time

from aiohttp import web
from localstripe import resources
from localstripe import server as ls
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
    StripeObject,
    Subscription,
    SubscriptionItem,
    schedule_webhook,
)

PLATFORM_ACCOUNT_ID = "acct_1LocalPlatform0000"

# --- memory only ---------------------------------------------------------------------------
resources.Store.dump_to_disk = lambda self: None
resources.Store.try_load_from_disk = lambda self: None


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
    Account._api_retrieve(account)
    now = int(time.time())
    return ls.json_response(
        {
            "object": "account_link",
            "created": now,
            "expires_at": now + 300,
            "url": f"{request.scheme}://{request.host}/connect/onboarding/{account}",
        }
    )


async def complete_onboarding(request):
    """Test-only: the creator finished Stripe's hosted onboarding."""
    account = Account._api_retrieve(request.match_info["id"])
    account.charges_enabled = account.payouts_enabled = account.details_submitted = True
    account.capabilities = {"card_payments": "active", "transfers": "active"}
    account.requirements = {"currently_due": [], "disabled_reason": None}
    return ls.json_response(account._export())


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
        **kwargs,
    ):
        if mode not in ("payment", "subscription") or not success_url or not line_items:
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
        self.subscription = None
        self.invoice = None
        self.currency = None
        self.amount_total = 0
        self._line_items = line_items
        self._payment_intent_data = payment_intent_data or {}
        self._subscription_data = subscription_data or {}
        for item in line_items:
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
    return ls.json_response(Session(**data)._export())


def retrieve_session(request):
    return ls.json_response(Session._api_retrieve(request.match_info["id"])._export())


def _pay_with_new_card(customer: str | None, number: str = "4242424242424242") -> PaymentMethod:
    card = {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    method = PaymentMethod(type="card", card=card)
    if customer:
        PaymentMethod._api_attach(method.id, customer=customer)
    return method


async def complete_session(request):
    """Test-only: the buyer paid on the hosted Checkout page."""
    session = Session._api_retrieve(request.match_info["id"])
    if session.status != "open":
        raise UserError(400, "This session is not open")
    method = _pay_with_new_card(session.customer)
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
    session.payment_status = "paid"
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
    ("POST", "/_config/test/accounts/{id}/complete_onboarding", complete_onboarding),
    ("POST", "/_config/test/checkout/sessions/{id}/complete", complete_session),
    ("POST", "/_config/test/disputes", create_dispute),
    ("POST", "/_config/test/disputes/{id}/close", close_dispute),
):
    ls.app.router.add_route(_method, _url, _view)


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
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
