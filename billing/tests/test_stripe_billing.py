"""Billing through Stripe, end to end against the local Stripe-compatible server.

Webhooks here are real: the server signs and delivers its events to the live test server, where
dj-stripe verifies them and billing's handlers act. Replays post the same bytes again.
"""

from __future__ import annotations

import pytest
from djstripe.models import Event, WebhookEventTrigger

from billing.models import AccountPlan, CreditEntry
from billing.services import credits, plans
from billing.tests.stripe_fixtures import wait_for
from fmugateway.core.models import AuditEntry

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _event_ids(event_type: str, **metadata) -> list[str]:
    ids = []
    for event in Event.objects.filter(type=event_type).order_by("created", "djstripe_id"):
        meta = (event.data.get("object") or {}).get("metadata") or {}
        if all(str(meta.get(key)) == str(value) for key, value in metadata.items()):
            ids.append(event.id)
    return ids


def _ledger(user) -> list[tuple[str, int, str]]:
    return list(
        CreditEntry.objects.filter(account__user=user)
        .order_by("id")
        .values_list("kind", "amount", "reference")
    )


def _plan_code(user) -> str:
    # A fresh instance: the test's ``user`` caches the plan row it had when a request used it.
    return plans.plan_for(type(user).objects.get(pk=user.pk)).code


def _plan_row(user) -> AccountPlan | None:
    return AccountPlan.objects.filter(user=user).first()


def _is_pro(user) -> bool:
    row = _plan_row(user)
    return row is not None and row.plan == "pro" and row.status == AccountPlan.Status.ACTIVE


def test_subscribing_to_pro_makes_the_account_pro_with_its_credits(stripe_live, user, user_client):
    # Given a Free account that used this month's Free grant
    account = credits.get_account(user)
    assert account.balance == 1000

    # When it subscribes with a card (the first invoice is charged at once)
    response = user_client.post(
        "/api/v1/billing/subscribe", {"payment_method": stripe_live.card()}, format="json"
    )

    # Then Stripe's webhooks put it on Pro and top this cycle's credits up to Pro's
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "active"
    subscription = response.json()["subscription"]
    wait_for(lambda: _is_pro(user), what="the Pro plan")
    row = _plan_row(user)
    assert (row.source, row.external_id) == (AccountPlan.Source.STRIPE, subscription)
    assert row.current_period_end is not None
    wait_for(lambda: credits.balance_of(user) == 150_000, what="Pro's credits")
    assert _plan_code(user) == "pro"

    # And each webhook replayed ten times changes nothing more
    wait_for(lambda: _event_ids("invoice.payment_succeeded"), what="the invoice event")
    ledger, audit = _ledger(user), AuditEntry.objects.count()
    for event_type in ("customer.subscription.created", "invoice.payment_succeeded"):
        for event_id in _event_ids(event_type):
            stripe_live.replay(event_id, times=10)
    assert _ledger(user) == ledger
    assert AuditEntry.objects.count() == audit
    assert _plan_row(user).updated_at == row.updated_at or _is_pro(user)

    # And the invoice is listed on the account
    invoices = user_client.get("/api/v1/billing/invoices").json()["results"]
    assert [invoice["subscription"] for invoice in invoices] == [subscription]
    assert invoices[0]["status"] == "paid"

    # And a second subscription is refused
    again = user_client.post(
        "/api/v1/billing/subscribe", {"payment_method": stripe_live.card()}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["code"] == "already_subscribed"


def test_buying_a_credit_pack_adds_its_credits_once_and_a_refund_takes_them_back(
    stripe_live, user, user_client
):
    # Given an account with its Free grant
    credits.get_account(user)

    # When it buys 2000 credits and pays with a card in the browser
    response = user_client.post("/api/v1/billing/credit-packs", {"credits": 2000}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["amount"], body["currency"]) == (10_000, "usd")  # 2000 x $0.05
    assert body["client_secret"].startswith(body["payment_intent"])
    stripe_live.pay(body["payment_intent"])

    # Then the payment's webhook writes one purchase
    reference = f"stripe:{body['payment_intent']}"
    wait_for(lambda: credits.balance_of(user) == 3000, what="the purchase")
    assert ("purchase", 2000, reference) in _ledger(user)

    # And replaying it ten times adds nothing
    stripe_live.replay(_event_ids("payment_intent.succeeded", kind="credit_pack")[0], times=10)
    assert credits.balance_of(user) == 3000

    # When a quarter of the money is refunded, then all the rest
    stripe_live.refund(body["payment_intent"], amount=2500)
    wait_for(lambda: credits.balance_of(user) == 2500, what="the partial refund")
    stripe_live.refund(body["payment_intent"])
    wait_for(lambda: credits.balance_of(user) == 1000, what="the full refund")

    # Then the pack's credits are gone, in two reversals, and replays change nothing
    reversals = [entry for entry in _ledger(user) if entry[1] < 0]
    assert [amount for _, amount, _ in reversals] == [-500, -1500]
    assert all(ref.startswith(f"{reference}:re_") for _, _, ref in reversals)
    for event_id in _event_ids("charge.refunded"):
        stripe_live.replay(event_id, times=10)
    assert credits.balance_of(user) == 1000
    account = credits.get_account(user)
    assert credits.recompute_balance(account).consistent


def test_a_refund_that_overtakes_its_payment_is_not_lost(stripe_live, user, user_client):
    # Given a pack paid and refunded at Stripe, whose events are not delivered yet
    credits.get_account(user)
    stripe_live.mute()
    body = user_client.post("/api/v1/billing/credit-packs", {"credits": 1000}, format="json").json()
    stripe_live.pay(body["payment_intent"])
    stripe_live.refund(body["payment_intent"])

    # When the refund's event arrives (signed like Stripe does) before the payment's
    wait_for(lambda: stripe_live.events("charge.refunded"), what="the refund event")
    refunded = next(
        event
        for event in stripe_live.events("charge.refunded")
        if event["data"]["object"]["payment_intent"] == body["payment_intent"]
    )
    assert stripe_live.deliver(refunded).status_code == 200

    # Then the purchase and its reversal are both written, and the payment's event adds nothing
    reference = f"stripe:{body['payment_intent']}"
    wait_for(
        lambda: {ref for _, _, ref in _ledger(user)} >= {reference},
        what="the purchase written by the refund handler",
    )
    wait_for(lambda: credits.balance_of(user) == 1000, what="the reversal")
    succeeded = next(
        event
        for event in stripe_live.events("payment_intent.succeeded")
        if event["data"]["object"]["id"] == body["payment_intent"]
    )
    for _ in range(3):
        stripe_live.deliver(succeeded)
    assert credits.balance_of(user) == 1000
    purchases = [entry for entry in _ledger(user) if entry[0] == "purchase"]
    assert sorted(amount for _, amount, _ in purchases) == [-1000, 1000]


def test_a_bad_signature_is_refused_and_nothing_is_recorded(stripe_live, user):
    # Given a well-formed event signed with the wrong secret, and one without a signature
    from billing.tests.stripe_fixtures import stripe_event

    event = stripe_event(
        "payment_intent.succeeded",
        {"id": "pi_forged", "object": "payment_intent", "metadata": {"kind": "credit_pack"}},
    )

    # When they are posted to the webhook
    forged = stripe_live.deliver(event, secret="whsec_not_the_secret")
    unsigned = stripe_live.post_webhook("{}", None)

    # Then both are refused with 400 and no event exists
    assert forged.status_code == 400
    assert unsigned.status_code == 400
    assert not Event.objects.filter(id=event["id"]).exists()
    assert not WebhookEventTrigger.objects.filter(valid=True, body__contains="pi_forged").exists()
    assert not CreditEntry.objects.filter(kind="purchase").exists()


def test_a_failed_renewal_keeps_pro_for_the_grace_period_then_falls_back_to_free(
    stripe_live, user, user_client, settings
):
    from billing.tasks import end_lapsed_grace_periods

    # Given a Pro subscriber
    settings.BILLING_GRACE_DAYS = 7
    response = user_client.post(
        "/api/v1/billing/subscribe", {"payment_method": stripe_live.card()}, format="json"
    )
    subscription = response.json()["subscription"]
    wait_for(lambda: _is_pro(user), what="the Pro plan")
    customer = _plan_row(user) and _customer_of(user)

    # When the renewal is charged to a card that is now declined
    declining = stripe_live.card("4000000000000341")
    stripe_live.call("POST", f"/v1/payment_methods/{declining}/attach", customer=customer)
    stripe_live.call(
        "POST",
        f"/v1/customers/{customer}",
        invoice_settings={"default_payment_method": declining},
    )
    invoice = stripe_live.call("POST", "/v1/invoices", customer=customer, subscription=subscription)
    declined = stripe_live.session.post(f"{stripe_live.base_url}/v1/invoices/{invoice['id']}/pay")
    assert declined.status_code == 402

    # Then invoice.payment_failed puts the account past due, still on Pro for 7 days
    wait_for(lambda: _plan_row(user).status == AccountPlan.Status.PAST_DUE, what="past due status")
    row = _plan_row(user)
    assert row.plan == "pro" and row.grace_until is not None
    assert _plan_code(user) == "pro"
    for event_id in _event_ids("invoice.payment_failed"):
        stripe_live.replay(event_id, times=10)
    assert _plan_row(user).grace_until == row.grace_until

    # When the grace period has run out (time-shifted) and the beat task runs
    AccountPlan.objects.filter(pk=row.pk).update(grace_until=row.grace_until.replace(year=2000))
    assert end_lapsed_grace_periods() == 1

    # Then the account is on Free and its subscription is cancelled at Stripe
    row = _plan_row(user)
    assert (row.plan, row.status) == ("free", AccountPlan.Status.CANCELED)
    assert _plan_code(user) == "free"
    sub = stripe_live.call("GET", f"/v1/subscriptions/{subscription}")
    assert sub["status"] == "canceled"
    assert end_lapsed_grace_periods() == 0


def _customer_of(user) -> str:
    from djstripe.models import Customer

    return Customer.objects.get(subscriber=user).id


def test_cancelling_now_puts_the_account_back_on_free(stripe_live, user, user_client):
    # Given a Pro subscriber
    user_client.post(
        "/api/v1/billing/subscribe", {"payment_method": stripe_live.card()}, format="json"
    )
    wait_for(lambda: _is_pro(user), what="the Pro plan")

    # When the subscription is cancelled at once
    response = user_client.post("/api/v1/billing/cancel", {"at_period_end": False}, format="json")

    # Then the account is on Free, and the deletion webhook changes nothing more
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "canceled"
    assert _plan_code(user) == "free"
    wait_for(lambda: _event_ids("customer.subscription.deleted"), what="the deletion event")
    assert _plan_row(user).status == AccountPlan.Status.CANCELED


def test_subscribing_through_stripe_checkout(stripe_live, user, user_client):
    from billing.tests.stripe_fixtures import stripe_event

    # Given a buyer sent to Stripe Checkout (no saved card)
    response = user_client.post("/api/v1/billing/subscribe", {}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "checkout"
    assert response.json()["checkout_url"].startswith(f"{stripe_live.base_url}/checkout/pay/cs_")

    # When they pay on the hosted page and Stripe sends checkout.session.completed (ten times)
    session = stripe_live.complete_checkout(response.json()["session"])
    event = stripe_event("checkout.session.completed", session)
    for _ in range(10):
        assert stripe_live.deliver(event).status_code == 200

    # Then the account is on Pro with the session's subscription
    wait_for(lambda: _is_pro(user), what="the Pro plan")
    assert _plan_row(user).external_id == session["subscription"]
    wait_for(lambda: credits.balance_of(user) == 150_000, what="Pro's credits")
