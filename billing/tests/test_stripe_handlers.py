"""Billing's Stripe code without webhook deliveries: refusals, checks, handler idempotency."""

from __future__ import annotations

import pytest
from djstripe.models import Event

from billing import checks
from billing.models import AccountPlan, CreditEntry
from billing.services import credits, plans
from billing.stripe import event_handlers, plan_subscriptions

pytestmark = pytest.mark.django_db

PAID_ENDPOINTS = [
    ("/api/v1/billing/subscribe", {"payment_method": "pm_card_visa"}),
    ("/api/v1/billing/credit-packs", {"credits": 1000}),
    ("/api/v1/billing/cancel", {}),
]


@pytest.mark.parametrize(("url", "body"), PAID_ENDPOINTS)
def test_paid_endpoints_say_payments_are_unavailable_without_stripe(
    user_client, settings, url, body
):
    settings.STRIPE_SECRET_KEY = ""

    response = user_client.post(url, body, format="json")

    assert response.status_code == 503
    assert response.json()["code"] == "payments_unavailable"


def test_invoices_list_is_empty_without_stripe(user_client, settings):
    settings.STRIPE_SECRET_KEY = ""

    response = user_client.get("/api/v1/billing/invoices")

    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_the_stripe_checks_pass_without_keys_and_catch_contradictions(settings):
    settings.STRIPE_SECRET_KEY = ""
    assert checks.stripe_configured(None) == []

    settings.STRIPE_SECRET_KEY = "sk_live_" + "x" * 24
    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_WEBHOOK_SECRET = ""
    ids = {message.id for message in checks.stripe_configured(None)}
    assert ids == {"billing.E005", "billing.W002"}

    settings.STRIPE_SECRET_KEY = "not-a-key"
    assert {message.id for message in checks.stripe_configured(None)} >= {"billing.E004"}


def test_credit_packs_have_a_size_range(stripe_settings, user_client):
    response = user_client.post("/api/v1/billing/credit-packs", {"credits": 10}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "credit_pack_size"


def test_the_documented_credit_pack_range_is_enforced(stripe_settings, settings, user_client):
    from fmugateway.core.schema import generate_api_schema

    settings.CREDIT_PACK_MIN_CREDITS, settings.CREDIT_PACK_MAX_CREDITS = 500, 2000
    schema = generate_api_schema()
    credits = schema["components"]["schemas"]["CreditPackRequest"]["properties"]["credits"]
    assert (credits["minimum"], credits["maximum"]) == (500, 2000)

    for outside in (499, 2001):
        response = user_client.post(
            "/api/v1/billing/credit-packs", {"credits": outside}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["code"] == "credit_pack_size"


def test_credit_pack_price_follows_the_plan_rate(stripe_settings, user):
    from billing.stripe.credit_packs import price_pack

    assert price_pack(user, 1000).amount == 5000  # Free: $0.05 per credit
    plans.change_plan(user, "pro")
    assert price_pack(user, 1000).amount == 1500  # Pro: $0.015 per credit


def test_our_handlers_are_idempotent_even_without_dj_stripe_deduplication(
    stripe_testbed, user, user_client
):
    # Given a credit pack paid at Stripe
    credits.get_account(user)
    body = user_client.post("/api/v1/billing/credit-packs", {"credits": 1000}, format="json").json()
    stripe_testbed.pay(body["payment_intent"])
    intent = stripe_testbed.call("GET", f"/v1/payment_intents/{body['payment_intent']}")
    event = Event(
        id="evt_direct", type="payment_intent.succeeded", data={"object": intent}, livemode=False
    )

    # When billing's handler runs ten times for the same event
    for _ in range(10):
        event_handlers.on_payment_intent_succeeded(sender=Event, event=event)

    # Then the credits were added once
    assert credits.balance_of(user) == 2000
    assert CreditEntry.objects.filter(kind="purchase", account__user=user).count() == 1


def test_an_older_subscription_ending_cannot_downgrade_the_current_one(stripe_testbed, user):
    # Given an account on Pro through subscription B
    plans.change_plan(user, "pro", source=AccountPlan.Source.STRIPE, external_id="sub_B")
    from billing.stripe.customers import customer_for

    customer = customer_for(user)

    # When a late event about its earlier subscription A (now cancelled) is applied
    stale = {
        "id": "sub_A",
        "object": "subscription",
        "status": "canceled",
        "customer": customer.id,
        "metadata": {"plan": "pro"},
        "items": {"data": []},
    }
    row = plan_subscriptions.apply_subscription(stale)

    # Then the account stays on Pro with B
    assert (row.plan, row.status, row.external_id) == ("pro", "active", "sub_B")


def test_a_plan_set_by_staff_is_not_overridden_by_stripe(stripe_testbed, user):
    plans.change_plan(user, "enterprise", source=AccountPlan.Source.MANUAL)
    from billing.stripe.customers import customer_for

    customer = customer_for(user)
    active = {
        "id": "sub_X",
        "status": "active",
        "customer": customer.id,
        "metadata": {"plan": "pro"},
        "items": {"data": []},
    }

    row = plan_subscriptions.apply_subscription(active)

    assert (row.plan, row.source) == ("enterprise", "manual")


def test_reversing_a_purchase_never_takes_more_than_it_added(user):
    account = credits.get_account(user)
    credits.purchase_credits(account, 500, reference="stripe:pi_1")

    first = credits.reverse_purchase(
        account, 400, purchase_reference="stripe:pi_1", refund_reference="re_1"
    )
    again = credits.reverse_purchase(
        account, 400, purchase_reference="stripe:pi_1", refund_reference="re_1"
    )
    rest = credits.reverse_purchase(
        account, 400, purchase_reference="stripe:pi_1", refund_reference="re_2"
    )
    unknown = credits.reverse_purchase(
        account, 1, purchase_reference="stripe:pi_none", refund_reference="re_3"
    )

    assert first.pk == again.pk and first.amount == -400
    assert rest.amount == -100
    assert unknown is None
    assert credits.balance_of(user) == 1000


def test_webhook_receivers_accept_keyword_arguments():
    # Django refuses receivers without **kwargs when DEBUG is on (the app would not start).
    from django.utils.inspect import func_accepts_kwargs

    from marketplace import webhooks as marketplace_webhooks

    receivers = [*event_handlers.HANDLERS.values(), *marketplace_webhooks.HANDLERS.values()]
    assert all(func_accepts_kwargs(receiver) for receiver in receivers)


def test_system_checks_pass_without_stripe_keys(settings):
    from django.core.management import call_command

    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""

    call_command("check")
