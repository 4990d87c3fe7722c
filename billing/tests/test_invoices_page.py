"""The account page lists the account's Stripe invoices, and never another account's."""

from __future__ import annotations

import pytest

from billing.stripe.customers import customer_for
from billing.stripe.objects import fresh_invoice

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
PAGE = "/account/billing/"


def _invoice(testbed, user, amount: int, description: str) -> dict:
    """An invoice at the Stripe server for ``user``, synced as its webhook would."""
    customer = customer_for(user).id
    testbed.call(
        "POST",
        "/v1/invoiceitems",
        customer=customer,
        amount=amount,
        currency="usd",
        description=description,
    )
    created = testbed.call("POST", "/v1/invoices", customer=customer)
    return fresh_invoice(created["id"])


def test_account_page_lists_my_invoices_with_their_links(stripe_testbed, user, other_user, client):
    # Given an invoice of mine and one of another account
    mine = _invoice(stripe_testbed, user, 2_500, "Overage")
    theirs = _invoice(stripe_testbed, other_user, 9_900, "Someone else's")
    client.force_login(user)

    # When I open the credits and plan page
    response = client.get(PAGE)

    # Then my invoice is listed with its number, date, amount, status and Stripe's links
    assert response.status_code == 200
    page = response.content.decode()
    assert mine["number"] in page
    assert "$25.00" in page
    assert mine["hosted_invoice_url"] in page and mine["invoice_pdf"] in page
    assert mine["status"].capitalize() in page
    # And nothing of the other account's
    assert theirs["number"] not in page and theirs["hosted_invoice_url"] not in page
    assert "$99.00" not in page


def test_invoices_api_lists_only_mine(stripe_testbed, user, other_user, user_client):
    mine = _invoice(stripe_testbed, user, 2_500, "Overage")
    _invoice(stripe_testbed, other_user, 9_900, "Someone else's")

    response = user_client.get("/api/v1/billing/invoices")

    assert response.status_code == 200
    assert [(row["id"], row["total"]) for row in response.json()["results"]] == [
        (mine["id"], 2_500)
    ]


def test_invoices_api_is_paginated_like_every_list(stripe_testbed, user, user_client):
    older = _invoice(stripe_testbed, user, 1_000, "First")
    newer = _invoice(stripe_testbed, user, 2_000, "Second")

    first = user_client.get("/api/v1/billing/invoices", {"page_size": 1}).json()
    second = user_client.get(first["next"]).json()

    assert first["count"] == 2 and first["previous"] is None
    assert [row["id"] for row in first["results"] + second["results"]] == [
        newer["id"],
        older["id"],
    ]
    assert second["next"] is None


def test_account_page_without_invoices_says_so(client, user):
    client.force_login(user)

    response = client.get(PAGE)

    assert response.status_code == 200
    assert "No invoices yet" in response.content.decode()
