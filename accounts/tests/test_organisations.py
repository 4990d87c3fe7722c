"""Org licenses: an organisation's members enjoy the org licenses attached to it."""

import pytest
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.factories import UserFactory
from accounts.models import Membership, OrganisationInvitation
from accounts.services import organisations, sign_up, verification_tokens, verify_email
from execution.services import may_run
from fmugateway.core.models import AuditEntry
from licensing.services import seats
from licensing.services.licenses import revoke_license
from marketplace.factories import ListingFactory
from marketplace.models import Listing
from marketplace.tests.fixtures import *  # noqa: F403  (commerce fixtures)
from marketplace.tests.fixtures import client_for, issue

pytestmark = pytest.mark.django_db

DOWNLOAD = "/api/v1/packages/ball/versions/1.0.0/download-url"


@pytest.fixture
def org_listing(package):
    return ListingFactory(
        package=package, name="Company", kind=Listing.Kind.ORG, price_amount=99000
    )


@pytest.fixture
def acme(user):
    return organisations.create_organisation(user, name="Acme Labs")


@pytest.fixture
def member(acme, user):
    person = UserFactory(email="ada@example.com")
    organisations.add_member(acme, person.email, actor=user)
    return person


@pytest.fixture
def org_license(user, org_listing, acme):
    issued = issue(user, org_listing)
    seats.attach_license(issued.license, acme, actor=user)
    return issued


def test_creating_an_organisation_makes_its_creator_owner_and_admin(user):
    response = client_for(user).post("/api/v1/orgs", {"name": "Acme Labs"})

    assert response.status_code == 201
    assert response.json()["slug"] == "acme-labs"
    assert Membership.objects.get(organisation__slug="acme-labs").role == "admin"
    taken = client_for(UserFactory()).post("/api/v1/orgs", {"name": "Acme Labs"})
    assert taken.status_code == 409
    assert taken.json()["code"] == "slug_taken"


def test_admin_adds_a_member_who_then_enjoys_the_org_license(user, acme, org_license, version):
    person = UserFactory(email="ada@example.com")

    response = client_for(user).post("/api/v1/orgs/acme-labs/members", {"email": "ADA@example.com"})

    assert response.status_code == 201
    assert response.json()["role"] == "member"
    assert client_for(person).post(DOWNLOAD).status_code == 201
    assert may_run(person, version)
    [held] = client_for(person).get("/api/v1/licenses/held").json()["results"]
    assert (held["id"], held["via"], held["organisation"]) == (
        org_license.license.pk,
        "organisation",
        "acme-labs",
    )
    assert "key_hint" not in held and org_license.key not in str(held)


def test_a_non_member_gets_nothing(org_license, member, other_user, version):
    response = client_for(other_user).post(DOWNLOAD)

    assert response.status_code == 403
    assert response.json()["code"] == "download_forbidden"
    assert not may_run(other_user, version)
    for url in ("/api/v1/orgs/acme-labs/members", "/api/v1/orgs/acme-labs/leave"):
        answer = client_for(other_user).post(url, {"email": other_user.email})
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"
    assert client_for(other_user).get("/api/v1/orgs").json()["results"] == []


def test_a_plain_member_cannot_add_or_remove_members(acme, user, member):
    UserFactory(email="b@example.com")
    owner_membership = Membership.objects.get(organisation=acme, user=user)
    api = client_for(member)

    added = api.post("/api/v1/orgs/acme-labs/members", {"email": "b@example.com"})
    removed = api.delete(f"/api/v1/orgs/acme-labs/members/{owner_membership.pk}")

    assert (added.status_code, added.json()["code"]) == (403, "not_org_admin")
    assert (removed.status_code, removed.json()["code"]) == (403, "not_org_admin")


def test_leaving_the_organisation_ends_access_at_once(org_license, member, version):
    assert may_run(member, version)

    response = client_for(member).post("/api/v1/orgs/acme-labs/leave")

    assert response.status_code == 204
    assert client_for(member).post(DOWNLOAD).status_code == 403
    assert not may_run(member, version)
    assert client_for(member).get("/api/v1/licenses/held").json()["results"] == []


def test_an_admin_removing_a_member_ends_their_access(acme, user, org_license, member, version):
    membership = Membership.objects.get(organisation=acme, user=member)

    response = client_for(user).delete(f"/api/v1/orgs/acme-labs/members/{membership.pk}")

    assert response.status_code == 204
    assert not may_run(member, version)


def test_the_owner_cannot_leave(acme, user):
    response = client_for(user).post("/api/v1/orgs/acme-labs/leave")

    assert response.status_code == 409
    assert response.json()["code"] == "owner_cannot_leave"


def test_the_seat_cap_entitles_the_first_members_only(user, package, acme, version):
    listing = ListingFactory(package=package, kind=Listing.Kind.ORG, seats=2, price_amount=900)
    seats.attach_license(issue(user, listing).license, acme, actor=user)
    second, third = UserFactory(), UserFactory()
    organisations.add_member(acme, second.email, actor=user)
    organisations.add_member(acme, third.email, actor=user)

    assert may_run(second, version)  # the owner is member 1, second is member 2
    assert not may_run(third, version)
    organisations.leave(acme, second)
    assert may_run(third, version)  # a seat came free


def test_revoking_the_org_license_ends_members_access(org_license, member, version):
    revoke_license(org_license.license, reason="refund")

    assert not may_run(member, version)
    assert client_for(member).post(DOWNLOAD).status_code == 403


def test_execute_only_terms_hold_for_members(org_license, member, version):
    type(org_license.license).objects.filter(pk=org_license.license.pk).update(can_download=False)

    assert client_for(member).post(DOWNLOAD).status_code == 403
    assert may_run(member, version)


def test_attaching_rules(user, acme, org_listing, download_listing, other_user):
    org = issue(user, org_listing).license
    plain = issue(user, download_listing).license
    api = client_for(user)

    wrong_kind = api.post(
        f"/api/v1/licenses/{plain.pk}/organisation", {"organisation": "acme-labs"}
    )
    missing = api.post(f"/api/v1/licenses/{org.pk}/organisation", {})
    not_mine = client_for(other_user).post(
        f"/api/v1/licenses/{org.pk}/organisation", {"organisation": "acme-labs"}
    )
    attached = api.post(f"/api/v1/licenses/{org.pk}/organisation", {"organisation": "acme-labs"})
    other = organisations.create_organisation(user, name="Beta")
    moved = api.post(f"/api/v1/licenses/{org.pk}/organisation", {"organisation": other.slug})

    assert (wrong_kind.status_code, wrong_kind.json()["code"]) == (409, "not_an_org_license")
    assert (missing.status_code, missing.json()["code"]) == (400, "invalid")
    assert (not_mine.status_code, not_mine.json()["code"]) == (404, "not_found")
    assert attached.status_code == 200 and attached.json()["organisation"] == "acme-labs"
    assert (moved.status_code, moved.json()["code"]) == (409, "license_already_attached")


def test_a_member_who_is_not_admin_cannot_attach_a_license(acme, member, org_listing):
    license = issue(member, org_listing).license

    response = client_for(member).post(
        f"/api/v1/licenses/{license.pk}/organisation", {"organisation": "acme-labs"}
    )

    assert (response.status_code, response.json()["code"]) == (403, "not_org_admin")


def test_duplicate_members_and_invitations_get_clear_codes(acme, user, member):
    api = client_for(user)

    invited = api.post("/api/v1/orgs/acme-labs/members", {"email": "nobody@example.com"})
    invited_again = api.post("/api/v1/orgs/acme-labs/members", {"email": "Nobody@example.com"})
    again = api.post("/api/v1/orgs/acme-labs/members", {"email": member.email})
    bad_role = api.post("/api/v1/orgs/acme-labs/members", {"email": member.email, "role": "king"})

    assert invited.status_code == 202
    assert (invited_again.status_code, invited_again.json()["code"]) == (409, "already_invited")
    assert (again.status_code, again.json()["code"]) == (409, "already_member")
    assert (bad_role.status_code, bad_role.json()["code"]) == (400, "invalid")
    assert "role" in bad_role.json()["fields"]


def test_members_see_the_org_license_in_my_licenses_without_its_key(org_license, member, user):
    page = Client()
    page.force_login(member)

    html = page.get("/account/licenses/").content.decode()

    assert "Through Acme Labs" in html
    assert org_license.license.key_hint not in html
    assert page.get(f"/account/licenses/{org_license.license.pk}/").status_code == 404


def test_organisation_changes_are_audited(acme, user, member, org_license):
    organisations.leave(acme, member)

    actions = list(
        AuditEntry.objects.filter(
            action__in=[
                "marketplace.organisation.created",
                "marketplace.organisation.member_added",
                "marketplace.license.organisation_attached",
                "marketplace.organisation.member_removed",
            ]
        )
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "marketplace.organisation.created",
        "marketplace.organisation.member_added",
        "marketplace.license.organisation_attached",
        "marketplace.organisation.member_removed",
    ]


def test_owner_shares_an_org_license_from_its_page(user, acme, org_listing, member, version):
    license = issue(user, org_listing).license
    page = Client(enforce_csrf_checks=True)
    page.force_login(user)
    url = f"/account/licenses/{license.pk}/"

    html = page.get(url).content.decode()
    token = page.cookies["csrftoken"].value
    refused = page.post(url, {"action": "attach_organisation", "org": "acme-labs"})
    shared = page.post(
        url, {"action": "attach_organisation", "org": "acme-labs", "csrfmiddlewaretoken": token}
    )

    assert 'value="acme-labs"' in html
    assert refused.status_code == 403
    assert shared.status_code == 302
    assert may_run(member, version)
    assert "Shared with the members of" in page.get(url).content.decode()


def test_an_invited_address_joins_when_its_owner_signs_up_and_confirms_it(
    acme, user, member, org_license, version, mailoutbox, django_capture_on_commit_callbacks
):
    # Given an admin invites an address that has no account yet
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post(
            "/api/v1/orgs/acme-labs/members", {"email": "New@Example.com", "role": "admin"}
        )
    assert response.status_code == 202
    assert (response.json()["email"], response.json()["role"]) == ("new@example.com", "admin")
    [mail] = mailoutbox
    assert mail.to == ["new@example.com"] and "/signup/" in mail.body
    assert "Acme Labs" in mail.subject
    # Admins see the open invitation; plain members do not see invited addresses
    listed = client_for(user).get("/api/v1/orgs/acme-labs/members").json()
    assert [i["email"] for i in listed["invitations"]] == ["new@example.com"]
    assert "invitations" not in client_for(member).get("/api/v1/orgs/acme-labs/members").json()

    # When its owner signs up, nothing is shared before the address is confirmed
    newcomer = sign_up(email="new@example.com", password="correct horse battery staple")
    assert not may_run(newcomer, version)
    verify_email(
        urlsafe_base64_encode(force_bytes(newcomer.pk)), verification_tokens.make_token(newcomer)
    )

    # Then they are a member with the invited role and enjoy the org license
    membership = Membership.objects.get(organisation=acme, user=newcomer)
    assert membership.role == "admin"
    assert may_run(newcomer, version)
    assert client_for(newcomer).post(DOWNLOAD).status_code == 201
    invitation = OrganisationInvitation.objects.get(email="new@example.com")
    assert invitation.accepted_at is not None
    assert "invitations" in client_for(newcomer).get("/api/v1/orgs/acme-labs/members").json()
    assert AuditEntry.objects.filter(action="marketplace.organisation.member_invited").exists()


def test_a_withdrawn_invitation_gives_nothing_and_only_admins_withdraw(
    acme, user, member, other_user, org_license, version
):
    invited = client_for(user).post("/api/v1/orgs/acme-labs/members", {"email": "x@example.com"})
    url = f"/api/v1/orgs/acme-labs/invitations/{invited.json()['id']}"

    assert client_for(member).delete(url).json()["code"] == "not_org_admin"
    assert client_for(other_user).delete(url).status_code == 404
    assert client_for(user).delete(url).status_code == 204
    assert client_for(user).delete(url).status_code == 404

    newcomer = sign_up(email="x@example.com", password="correct horse battery staple")
    verify_email(
        urlsafe_base64_encode(force_bytes(newcomer.pk)), verification_tokens.make_token(newcomer)
    )
    assert not Membership.objects.filter(user=newcomer).exists()
    assert not may_run(newcomer, version)
    # The address may be invited again after a withdrawal
    again = client_for(user).post("/api/v1/orgs/acme-labs/members", {"email": "y@example.com"})
    assert again.status_code == 202


def test_organisation_pages_create_add_invite_remove_and_leave(
    user, other_user, org_license, member, mailoutbox, django_capture_on_commit_callbacks
):
    admin = Client()
    admin.force_login(user)
    page = "/account/organisations/acme-labs/"

    # The list links the organisation; creating another one makes you its admin
    assert page in admin.get("/account/organisations/").content.decode()
    created = admin.post("/account/organisations/", {"name": "Beta Works"})
    assert created.status_code == 302 and created["Location"].endswith("/beta-works/")
    assert Membership.objects.get(organisation__slug="beta-works", user=user).role == "admin"

    # The admin sees members and the shared license, adds an account and invites an address
    html = admin.get(page).content.decode()
    assert member.email in html and org_license.license.package.name in html
    colleague = UserFactory(email="bob@example.com")
    admin.post(page, {"action": "add", "email": "bob@example.com", "role": "member"})
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(page, {"action": "add", "email": "carol@example.com"})
    html = admin.get(page).content.decode()
    assert "bob@example.com is a member now." in html
    assert "carol@example.com is invited" in html
    assert Membership.objects.filter(organisation__slug="acme-labs", user=colleague).exists()
    assert [m.to for m in mailoutbox] == [["carol@example.com"]]
    invitation = OrganisationInvitation.objects.get(email="carol@example.com")
    assert 'value="withdraw"' in html

    # A plain member sees the members but no invitations and cannot add anyone
    plain = Client()
    plain.force_login(member)
    html = plain.get(page).content.decode()
    assert "carol@example.com" not in html and 'value="add"' not in html
    refused = plain.post(page, {"action": "add", "email": "dan@example.com"}, follow=True)
    assert "Only the organisation&#x27;s admins" in refused.content.decode()
    assert not OrganisationInvitation.objects.filter(email="dan@example.com").exists()

    # The admin withdraws the invitation and removes a member; the member leaves
    admin.post(page, {"action": "withdraw", "invitation": invitation.pk})
    bob = Membership.objects.get(organisation__slug="acme-labs", user=colleague)
    admin.post(page, {"action": "remove", "member": bob.pk})
    left = plain.post(page, {"action": "leave"})
    assert left["Location"].endswith("/account/organisations/")
    assert set(
        Membership.objects.filter(organisation__slug="acme-labs").values_list("user", flat=True)
    ) == {user.pk}
    assert OrganisationInvitation.objects.open().count() == 0

    assert "Unknown action." in admin.post(page, {"action": "bogus"}, follow=True).content.decode()

    # Someone outside sees nothing
    outsider = Client()
    outsider.force_login(other_user)
    assert outsider.get(page).status_code == 404
    assert outsider.post(page, {"action": "add", "email": "x@example.com"}).status_code == 404
    assert "Acme Labs" not in outsider.get("/account/organisations/").content.decode()


def test_the_admin_shows_members_and_invitations_read_only(admin_client, acme, user, member):
    organisations.add_member(acme, "later@example.com", actor=user)

    html = admin_client.get(f"/admin/accounts/organisation/{acme.pk}/change/").content.decode()

    assert member.email in html
    assert "later@example.com" in html
    assert 'name="invitations-0-email"' not in html  # shown, not editable
    for prefix in ("memberships", "invitations"):  # and no row may be added
        assert f'name="{prefix}-MAX_NUM_FORMS" value="0"' in html
