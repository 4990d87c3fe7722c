"""A new account shows the credits its plan includes at once, not 0 until its first run."""

from __future__ import annotations

import pytest

from billing.models import CreditEntry
from billing.services import plans, tokens
from billing.services.api_keys import create_api_key

pytestmark = pytest.mark.django_db


def _included(user) -> int:
    return plans.plan_for(user).included_credits


def test_a_new_account_overview_shows_the_monthly_grant(client, user):
    client.force_login(user)

    response = client.get("/account/")

    assert response.status_code == 200
    assert f'<span class="value">{_included(user)}</span>' in response.content.decode()


def test_a_new_billing_page_shows_the_grant_and_its_ledger_line(client, user):
    client.force_login(user)

    page = client.get("/account/billing/").content.decode()

    included = _included(user)
    assert f'<span class="value">{included}</span><span class="label">credits available' in page
    [grant] = CreditEntry.objects.filter(account__user=user)
    assert (grant.kind, grant.amount) == ("grant", included)
    assert grant.memo in page


def test_a_new_account_balance_over_the_api_is_the_grant(user_client, user):
    body = user_client.get("/api/v1/billing/balance").json()

    assert body["balance"] == _included(user)


def test_a_token_minted_before_any_run_carries_the_grant(user):
    new = create_api_key(user, name="ci", scopes=["read"])

    issued = tokens.mint_token(new.key)

    assert issued.claims["credits"] == _included(user)


def test_opening_the_pages_twice_grants_once(client, user):
    client.force_login(user)
    client.get("/account/")
    client.get("/account/billing/")

    assert CreditEntry.objects.filter(account__user=user, kind="grant").count() == 1
