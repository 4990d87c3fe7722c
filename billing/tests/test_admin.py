"""Admin: keys without secrets and a revoke action; read-only ledger with an adjust action."""

import pytest

from billing.factories import CreditAccountFactory, make_api_key
from billing.models import KEY_PREFIX, AccountPlan
from fmugateway.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_key_admin_never_shows_the_secret_or_its_hash(admin_client, user):
    key, secret = make_api_key(user)

    listing = admin_client.get("/admin/billing/apikey/")
    page = admin_client.get(f"/admin/billing/apikey/{key.pk}/change/")

    assert listing.status_code == page.status_code == 200
    # The random part may itself hold "_" (urlsafe base64): cut after the prefix and public id.
    random_part = secret.removeprefix(f"{KEY_PREFIX}{key.public_id}_")
    assert len(random_part) >= 43
    for response in (listing, page):
        assert random_part not in response.content.decode()
        assert key.secret_hash not in response.content.decode()


def test_revoke_action_uses_the_service(admin_client, user):
    key, _ = make_api_key(user)

    admin_client.post("/admin/billing/apikey/", {"action": "revoke", "_selected_action": [key.pk]})

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AuditEntry.objects.filter(action="billing.api_key.revoked").count() == 1


def test_adjust_action_writes_an_audited_ledger_entry(admin_client, admin_user, user):
    account = CreditAccountFactory(user=user, balance=10)

    page = admin_client.get(f"/admin/billing/creditaccount/{account.pk}/change/")
    assert f"/admin/billing/creditaccount/{account.pk}/adjust/" in page.content.decode()
    redirect = admin_client.post(
        "/admin/billing/creditaccount/",
        {"action": "adjust", "_selected_action": [account.pk]},
    )
    assert redirect.url.endswith(f"/{account.pk}/adjust/")
    response = admin_client.post(redirect.url, {"amount": -4, "memo": "duplicate charge"})

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.balance == 6
    entry = account.entries.order_by("-id").first()
    assert (entry.kind, entry.amount, entry.actor) == ("adjustment", -4, admin_user)
    assert AuditEntry.objects.filter(action="billing.credits.adjustment", actor=admin_user)


def test_ledger_and_accounts_are_read_only(admin_client, user):
    account = CreditAccountFactory(user=user, balance=10)
    entry = account.entries.first()

    assert admin_client.get("/admin/billing/creditentry/").status_code == 200
    assert admin_client.get("/admin/billing/creditentry/add/").status_code == 403
    assert admin_client.post(f"/admin/billing/creditentry/{entry.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/billing/creditaccount/add/").status_code == 403


def test_plan_admin_changes_go_through_the_audited_service(admin_client, user):
    response = admin_client.post(
        "/admin/billing/accountplan/add/",
        {"user": user.pk, "plan": "pro", "status": "active"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert AccountPlan.objects.get(user=user).plan == "pro"
    assert AuditEntry.objects.filter(action="billing.plan.changed").exists()
