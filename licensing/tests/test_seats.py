"""Seat licenses: the owner gives seats to named users, who get its entitlements but not its key."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.factories import UserFactory
from accounts.services import sign_up, verification_tokens, verify_email
from execution.services import may_run
from fmugateway.core.models import AuditEntry
from licensing.models import License, SeatAssignment
from licensing.services.licenses import (
    activate_license,
    revoke_license,
    suspend_license,
    verify_license,
)
from licensing.services.seats import assign_seat, remove_seat
from marketplace.factories import ListingFactory
from marketplace.models import Listing
from marketplace.tests.fixtures import client_for, issue

pytestmark = pytest.mark.django_db

DOWNLOAD = "/api/v1/packages/ball/versions/1.0.0/download-url"


@pytest.fixture
def seat_listing(package):
    return ListingFactory(
        package=package, name="Team of 3", kind=Listing.Kind.SEAT, seats=3, price_amount=9900
    )


@pytest.fixture
def team(user, seat_listing):
    """A three-seat license owned by ``user``, with its key."""
    return issue(user, seat_listing)


@pytest.fixture
def colleague(db):
    return UserFactory(email="ada@example.com")


def seats_url(license) -> str:
    return f"/api/v1/licenses/{license.pk}/seats"


def test_assigned_user_can_download_and_run_under_the_seat(team, user, colleague, version):
    response = client_for(user).post(seats_url(team.license), {"email": "Ada@Example.com"})

    assert response.status_code == 201, response.json()
    assert response.json()["email"] == "ada@example.com"
    assert response.json()["pending"] is False
    assert client_for(colleague).post(DOWNLOAD).status_code == 201
    assert may_run(colleague, version)


def test_a_user_without_a_seat_gets_nothing(team, user, colleague, other_user, version):
    assign_seat(team.license, colleague.email, actor=user)

    response = client_for(other_user).post(DOWNLOAD)

    assert response.status_code == 403
    assert response.json()["code"] == "download_forbidden"
    assert not may_run(other_user, version)


def test_seat_holder_sees_the_license_but_never_its_key(team, user, colleague):
    assign_seat(team.license, colleague.email, actor=user)
    api = client_for(colleague)

    held = api.get("/api/v1/licenses/held")
    page = Client()
    page.force_login(colleague)
    html = page.get("/account/licenses/").content.decode()

    assert held.status_code == 200
    [item] = held.json()["results"]
    assert item["id"] == team.license.pk
    assert item["entitlements"] == ["download", "execute"]
    assert item["owner"] == user.get_full_name()
    assert "key_hint" not in item and "key" not in item
    assert team.key not in held.content.decode()
    assert f"Seat on {user.get_full_name()}" in html
    assert team.license.key_hint not in html and team.key not in html
    assert api.get("/api/v1/licenses").json()["results"] == []


@pytest.mark.parametrize(
    "path",
    ["", "/rotate", "/key", "/activations", "/seats", "/offline?fingerprint=m1"],
)
def test_seat_holder_cannot_reach_the_owners_license_endpoints(team, user, colleague, path):
    assign_seat(team.license, colleague.email, actor=user)
    url = f"/api/v1/licenses/{team.license.pk}{path}"
    api = client_for(colleague)

    response = api.post(url) if path in ("/rotate", "/key") else api.get(url)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_seat_holder_cannot_open_the_owners_license_page(team, user, colleague):
    assign_seat(team.license, colleague.email, actor=user)
    page = Client()
    page.force_login(colleague)

    assert page.get(f"/account/licenses/{team.license.pk}/").status_code == 404


def test_another_user_cannot_list_assign_or_remove_seats(team, user, colleague, other_user):
    seat = assign_seat(team.license, colleague.email, actor=user)
    api = client_for(other_user)

    listed = api.get(seats_url(team.license))
    assigned = api.post(seats_url(team.license), {"email": other_user.email})
    removed = api.delete(f"{seats_url(team.license)}/{seat.pk}")

    assert [r.status_code for r in (listed, assigned, removed)] == [404, 404, 404]
    assert {r.json()["code"] for r in (listed, assigned, removed)} == {"not_found"}
    assert SeatAssignment.objects.active().filter(license=team.license).count() == 1


def test_removing_a_seat_ends_access_at_once(team, user, colleague, version):
    seat = assign_seat(team.license, colleague.email, actor=user)
    assert may_run(colleague, version)

    response = client_for(user).delete(f"{seats_url(team.license)}/{seat.pk}")

    assert response.status_code == 204
    assert client_for(colleague).post(DOWNLOAD).status_code == 403
    assert not may_run(colleague, version)
    assert client_for(colleague).get("/api/v1/licenses/held").json()["results"] == []
    again = client_for(user).delete(f"{seats_url(team.license)}/{seat.pk}")
    assert again.status_code == 404


@pytest.mark.parametrize("ending", ["revoke", "suspend", "expire"])
def test_seat_holder_loses_access_when_the_license_ends(team, user, colleague, version, ending):
    assign_seat(team.license, colleague.email, actor=user)
    if ending == "revoke":
        revoke_license(team.license, reason="refund")
    elif ending == "suspend":
        suspend_license(team.license, reason="takedown")
    else:
        License.objects.filter(pk=team.license.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )

    assert client_for(colleague).post(DOWNLOAD).status_code == 403
    assert not may_run(colleague, version)


def test_execute_only_terms_hold_for_seat_holders(team, user, colleague, version):
    License.objects.filter(pk=team.license.pk).update(can_download=False)
    assign_seat(team.license, colleague.email, actor=user)

    response = client_for(colleague).post(DOWNLOAD)

    assert response.status_code == 403
    assert response.json()["code"] == "download_forbidden"
    assert may_run(colleague, version)


def test_the_owner_holds_one_of_the_seats(team, user):
    api = client_for(user)
    UserFactory(email="b@example.com")

    first = api.post(seats_url(team.license), {"email": "ada@example.com"})
    second = api.post(seats_url(team.license), {"email": "b@example.com"})
    third = api.post(seats_url(team.license), {"email": "c@example.com"})
    own = api.post(seats_url(team.license), {"email": user.email})

    assert [first.status_code, second.status_code] == [201, 201]
    assert third.status_code == 409
    assert third.json()["code"] == "no_seats_left"
    assert own.status_code == 409
    body = api.get(seats_url(team.license)).json()
    assert (body["seats"], body["used"], len(body["results"])) == (3, 3, 2)


def test_the_owner_cannot_take_a_second_seat(team, user):
    response = client_for(user).post(seats_url(team.license), {"email": user.email.upper()})

    assert response.status_code == 409
    assert response.json()["code"] == "owner_holds_seat"


def test_one_seat_per_address(team, user, colleague):
    assign_seat(team.license, colleague.email, actor=user)

    response = client_for(user).post(seats_url(team.license), {"email": colleague.email})

    assert response.status_code == 409
    assert response.json()["code"] == "seat_already_assigned"


@pytest.mark.parametrize("email", [None, "", "not-an-address", ["a@example.com"]])
def test_a_bad_email_is_a_clear_400(team, user, email):
    data = {} if email is None else {"email": email}

    response = client_for(user).post(seats_url(team.license), data, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "email" in response.json()["fields"]


def test_only_seat_licenses_have_seats(user, download_listing, colleague):
    license = issue(user, download_listing).license

    response = client_for(user).post(seats_url(license), {"email": colleague.email})

    assert response.status_code == 409
    assert response.json()["code"] == "not_a_seat_license"


def test_no_seats_are_given_on_a_revoked_license(team, user, colleague):
    revoke_license(team.license, reason="refund")

    response = client_for(user).post(seats_url(team.license), {"email": colleague.email})

    assert response.status_code == 409
    assert response.json()["code"] == "license_revoked"


def test_an_unknown_address_is_invited_and_takes_the_seat_when_verified(team, user, version):
    response = client_for(user).post(seats_url(team.license), {"email": "new@example.com"})
    assert response.status_code == 201
    assert response.json()["pending"] is True

    newcomer = sign_up(email="new@example.com", password="correct horse battery staple")
    assert not may_run(newcomer, version)  # not verified yet: the invitation waits
    uid = urlsafe_base64_encode(force_bytes(newcomer.pk))
    verify_email(uid, verification_tokens.make_token(newcomer))

    assert may_run(newcomer, version)
    assert client_for(newcomer).post(DOWNLOAD).status_code == 201
    seat = SeatAssignment.objects.get(email="new@example.com")
    assert seat.user == newcomer and seat.bound_at is not None


def test_a_pending_invitation_takes_a_seat(user, package):
    listing = ListingFactory(package=package, kind=Listing.Kind.SEAT, seats=2, price_amount=900)
    license = issue(user, listing).license
    assign_seat(license, "someone@example.com", actor=user)

    response = client_for(user).post(seats_url(license), {"email": "other@example.com"})

    assert response.json()["code"] == "no_seats_left"


def test_seat_changes_are_audited(team, user, colleague):
    seat = assign_seat(team.license, colleague.email, actor=user)
    remove_seat(team.license, seat.pk, actor=user)

    actions = list(
        AuditEntry.objects.filter(action__startswith="marketplace.license.seat_")
        .order_by("id")
        .values_list("action", "actor_id")
    )
    assert actions == [
        ("marketplace.license.seat_assigned", user.pk),
        ("marketplace.license.seat_removed", user.pk),
    ]


def test_a_seat_listing_without_a_seat_count_gets_one_seat_per_machine(user, package):
    listing = ListingFactory(package=package, kind=Listing.Kind.SEAT, max_activations=5)

    license = issue(user, listing).license

    assert license.seats == 5
    assert issue(user, ListingFactory(package=package)).license.seats is None


def test_verify_keeps_capping_machines_on_a_seat_license(team, user, colleague):
    assign_seat(team.license, colleague.email, actor=user)

    codes = [
        activate_license(team.key, "ball", f"machine-{n}")["payload"]["code"] for n in range(4)
    ]
    answer = verify_license(team.key, "ball", "machine-0")["payload"]

    assert codes == ["VALID"] * 3 + ["TOO_MANY_ACTIVATIONS"]
    assert (answer["code"], answer["sku_kind"]) == ("VALID", "seat")


def test_owner_manages_seats_from_the_license_page(team, user, colleague):
    page = Client(enforce_csrf_checks=True)
    page.force_login(user)
    url = f"/account/licenses/{team.license.pk}/"

    html = page.get(url).content.decode()
    token = page.cookies["csrftoken"].value
    refused = page.post(url, {"action": "assign_seat", "email": colleague.email})
    added = page.post(
        url, {"action": "assign_seat", "email": colleague.email, "csrfmiddlewaretoken": token}
    )

    assert 'name="action" value="assign_seat"' in html
    assert refused.status_code == 403
    assert added.status_code == 302
    seat = SeatAssignment.objects.active().get(license=team.license)
    assert colleague.email in page.get(url).content.decode()
    removed = page.post(
        url, {"action": "remove_seat", "seat": seat.pk, "csrfmiddlewaretoken": token}
    )
    assert removed.status_code == 302
    assert not SeatAssignment.objects.active().filter(license=team.license).exists()


def test_seat_lists_cost_a_fixed_number_of_queries(
    team, user, colleague, package, django_assert_max_num_queries
):
    for _ in range(3):
        owner = UserFactory()
        assign_seat(
            issue(owner, ListingFactory(package=package, kind=Listing.Kind.SEAT)).license,
            colleague.email,
            actor=owner,
        )
    for n in range(2):
        assign_seat(team.license, f"invitee{n}@example.com", actor=user)

    with django_assert_max_num_queries(6):
        held = client_for(colleague).get("/api/v1/licenses/held")
    with django_assert_max_num_queries(6):
        listed = client_for(user).get(seats_url(team.license))

    assert len(held.json()["results"]) == 3
    assert len(listed.json()["results"]) == 2


def test_the_new_seat_holder_is_told_by_email(
    team, user, colleague, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assign_seat(team.license, colleague.email, actor=user)
        assign_seat(team.license, "new@example.com", actor=user)

    assert [m.to for m in mailoutbox] == [[colleague.email], ["new@example.com"]]
    assert "/account/licenses/" in mailoutbox[0].body
    assert "/signup/" in mailoutbox[1].body
    assert team.key not in mailoutbox[0].body + mailoutbox[1].body
