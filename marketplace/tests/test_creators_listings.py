"""Creators apply and are approved by moderators; only approved owners manage listings."""

import pytest
from django.urls import reverse

from accounts.models import Creator
from accounts.services.creators import apply_as_creator, approve_creator, is_creator, reject_creator
from fmugateway.core.errors import DomainError, ForbiddenError
from fmugateway.core.models import AuditEntry
from marketplace import services
from marketplace.factories import CreatorFactory
from marketplace.models import LISTING_MAX_DAYS, Listing
from marketplace.tests.fixtures import client_for
from registry.factories import PackageFactory

pytestmark = pytest.mark.django_db

APPLICATION = {
    "display_name": "Acme Models",
    "slug": "acme",
    "bio": "Thermal models.",
    "website": "https://acme.example.com",
    "support_email": "help@acme.example.com",
}
LISTING = {
    "name": "Standard",
    "kind": "download",
    "pricing_model": "paid",
    "price_amount": 4900,
    "currency": "eur",
    "license_template": "# License\n\nUse it.",
}
FREE = {**LISTING, "pricing_model": "free", "price_amount": 0}


def test_apply_creates_a_pending_profile_that_is_not_public(user, buyer_client, api_client):
    response = buyer_client.post("/api/v1/creators/apply", APPLICATION)

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending"
    assert not is_creator(user)
    assert api_client.get("/api/v1/creators/acme").status_code == 404
    assert buyer_client.get("/api/v1/creators/acme").status_code == 200  # your own
    assert AuditEntry.objects.filter(action="marketplace.creator.applied").exists()


def test_applying_twice_or_with_a_taken_slug_conflicts(user, buyer_client, other_user):
    buyer_client.post("/api/v1/creators/apply", APPLICATION)

    again = buyer_client.post("/api/v1/creators/apply", APPLICATION)
    taken = client_for(other_user).post("/api/v1/creators/apply", APPLICATION)

    assert again.json()["code"] == "already_applied"
    assert taken.status_code == 409 and taken.json()["code"] == "slug_taken"


def test_moderator_approves_in_the_admin(user, buyer_client, moderator, client, api_client):
    buyer_client.post("/api/v1/creators/apply", APPLICATION)
    creator = Creator.objects.get(user=user)
    moderator.is_staff = moderator.is_superuser = True
    moderator.save()
    client.force_login(moderator)

    response = client.post(
        reverse("admin:accounts_creator_changelist"),
        {"action": "approve", "_selected_action": [creator.pk]},
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert is_creator(user)
    assert api_client.get("/api/v1/creators/acme").json()["display_name"] == "Acme Models"
    entry = AuditEntry.objects.get(action="marketplace.creator.approved")
    assert entry.actor == moderator


def test_only_moderators_review(user, other_user):
    creator = apply_as_creator(user, **APPLICATION)

    with pytest.raises(ForbiddenError):
        approve_creator(creator, other_user)


def test_rejected_creator_may_apply_again(user, moderator):
    creator = apply_as_creator(user, **APPLICATION)
    reject_creator(creator, moderator, "Add a support address you read.")

    again = apply_as_creator(user, **{**APPLICATION, "bio": "Better"})

    assert again.pk == creator.pk and again.status == "pending"


def test_owner_creates_and_updates_listings(seller_client, package):
    created = seller_client.post("/api/v1/packages/ball/listings", LISTING)
    assert created.status_code == 201, created.json()
    listing_id = created.json()["id"]

    updated = seller_client.patch(
        f"/api/v1/packages/ball/listings/{listing_id}", {"price_amount": 5900}, format="json"
    )

    assert created.json()["currency"] == "EUR"
    assert updated.status_code == 200 and updated.json()["price_amount"] == 5900
    assert AuditEntry.objects.filter(action__startswith="marketplace.listing.").count() == 2


def test_public_reads_active_listings_only(api_client, seller_client, download_listing):
    hidden = Listing.objects.create(
        package=download_listing.package,
        name="Old",
        kind="download",
        pricing_model="free",
        license_template="x",
        is_active=False,
    )

    public = api_client.get("/api/v1/packages/ball/listings").json()["results"]
    owner = seller_client.get("/api/v1/packages/ball/listings").json()["results"]

    assert [item["id"] for item in public] == [download_listing.pk]
    assert {item["id"] for item in owner} == {download_listing.pk, hidden.pk}
    assert api_client.get(f"/api/v1/packages/ball/listings/{hidden.pk}").status_code == 404


def test_delete_deactivates_never_deletes(seller_client, download_listing):
    response = seller_client.delete(f"/api/v1/packages/ball/listings/{download_listing.pk}")

    assert response.status_code == 204
    download_listing.refresh_from_db()
    assert download_listing.is_active is False


def test_someone_elses_package_is_refused(buyer_client, package):
    response = buyer_client.post("/api/v1/packages/ball/listings", LISTING)

    assert response.status_code == 403


def test_owner_who_is_not_an_approved_creator_is_refused(user, buyer_client):
    PackageFactory(owner=user, slug="mine", status="listed")

    response = buyer_client.post("/api/v1/packages/mine/listings", LISTING)

    assert response.status_code == 403
    assert response.json()["code"] == "not_a_creator"


def test_paid_listings_need_charges_enabled_free_ones_do_not(db):
    creator = CreatorFactory(charges_enabled=False)
    PackageFactory(owner=creator.user, slug="nocharges", status="listed")
    client = client_for(creator.user)

    paid = client.post("/api/v1/packages/nocharges/listings", LISTING)
    free = client.post(
        "/api/v1/packages/nocharges/listings",
        {**LISTING, "pricing_model": "free", "price_amount": 0},
    )

    assert paid.status_code == 409 and paid.json()["code"] == "payouts_not_ready"
    assert free.status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price_amount": 0}, "price_amount"),
        ({"pricing_model": "free"}, "price_amount"),
        ({"pricing_model": "subscription"}, "billing_interval"),
        ({"pricing_model": "trial", "price_amount": 0}, "trial_days"),
        ({"kind": "execute_only"}, "run_quota"),
        ({"currency": "EURO"}, "currency"),
        ({"revenue_share_bps": 9000}, "revenue_share_bps"),  # platform keeps >= 15%
        ({"license_template": "  "}, "license_template"),
    ],
)
def test_listing_rules(seller_client, package, change, field):
    response = seller_client.post(
        "/api/v1/packages/ball/listings", {**LISTING, **change}, format="json"
    )

    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"]


def test_revenue_share_within_the_platform_fee_is_accepted(seller_client, package, settings):
    settings.PLATFORM_FEE_BPS = 2000

    ok = seller_client.post(
        "/api/v1/packages/ball/listings", {**LISTING, "revenue_share_bps": 8000}, format="json"
    )
    too_much = seller_client.post(
        "/api/v1/packages/ball/listings", {**LISTING, "revenue_share_bps": 8001}, format="json"
    )

    assert ok.status_code == 201
    assert too_much.status_code == 400


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"validity_days": 2**31 - 1}, "validity_days"),
        ({"pricing_model": "trial", "trial_days": 2**31 - 1}, "trial_days"),
        ({"pricing_model": "paid", "price_amount": 2**62}, "price_amount"),
        ({"kind": "execute_only", "run_quota": 2**31 - 1}, "run_quota"),
        ({"max_activations": 2**31 - 1}, "max_activations"),
    ],
)
def test_a_listing_number_past_its_bound_is_refused_instead_of_breaking_checkout(
    seller_client, package, change, field
):
    # Before: accepted; far day counts and prices then made every checkout of the listing a
    # 500 (the license's expiry date overflowed, the order's total did not fit its column).
    created = seller_client.post(
        "/api/v1/packages/ball/listings", {**FREE, **change}, format="json"
    )
    listing = seller_client.post("/api/v1/packages/ball/listings", FREE, format="json").json()
    changed = seller_client.patch(
        f"/api/v1/packages/ball/listings/{listing['id']}", change, format="json"
    )

    for response in (created, changed):
        assert response.status_code == 400, response.json()
        assert response.json()["code"] == "invalid"
        assert field in response.json()["fields"]


def test_a_free_listing_valid_for_the_longest_term_checks_out(seller_client, package, user):
    listing = seller_client.post(
        "/api/v1/packages/ball/listings",
        {**FREE, "validity_days": LISTING_MAX_DAYS},
        format="json",
    ).json()
    buyer = client_for(user)
    buyer.post("/api/v1/cart/items", {"listing": listing["id"]}, format="json")

    checkout = buyer.post("/api/v1/checkout")

    assert checkout.status_code == 201, checkout.json()
    assert checkout.json()["licenses"][0]["expires_at"] is not None


def test_the_bounds_hold_for_every_caller_of_the_service(seller, package):
    with pytest.raises(DomainError) as refused:
        services.create_listing(package, seller.user, **{**FREE, "validity_days": 10**6})

    assert refused.value.code == "invalid"
    assert "validity_days" in refused.value.fields
