"""Sign-up with email verification, password reset and the profile page."""

import re

import pytest
from django.core import mail

from accounts.models import User

pytestmark = pytest.mark.django_db
LINK = re.compile(r"https?://[^/\s]+(/\S+)")


def test_signup_sends_a_link_that_activates_and_logs_in(client):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "New.Person@Example.com",
            "display_name": "New Person",
            "password1": "a long enough passphrase 42",
            "password2": "a long enough passphrase 42",
        },
    )

    user = User.objects.get(email="new.person@example.com")
    assert response.status_code == 200 and b"Check your email" in response.content
    assert not user.is_active
    assert (
        client.post(
            "/accounts/login/",
            {"username": "new.person@example.com", "password": "a long enough passphrase 42"},
        ).status_code
        == 200
    )  # refused until verified
    path = LINK.search(mail.outbox[0].body).group(1)

    assert client.get(path).status_code == 302
    user.refresh_from_db()
    assert user.is_active
    assert client.get("/account/").status_code == 200
    assert client.get(path).status_code == 400  # a used link is void


def test_signup_refuses_taken_emails_and_mismatched_passwords(client, user):
    taken = client.post(
        "/accounts/signup/",
        {"email": user.email, "password1": "x" * 12 + "9Zq!", "password2": "x" * 12 + "9Zq!"},
    )
    mismatch = client.post(
        "/accounts/signup/",
        {"email": "a@example.com", "password1": "first pass 123", "password2": "second pass 123"},
    )

    assert b"already exists" in taken.content
    assert b"differ" in mismatch.content
    assert not User.objects.filter(email="a@example.com").exists()


def test_forged_verification_links_are_refused(client):
    assert client.get("/accounts/verify/MQ/abc-def/").status_code == 400


def test_password_reset_by_email(client, user):
    client.post("/accounts/password/reset/", {"email": user.email})
    path = LINK.search(mail.outbox[0].body).group(1)

    form = client.get(path, follow=True)
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "brand new passphrase 7", "new_password2": "brand new passphrase 7"},
    )

    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand new passphrase 7")


def test_profile_edits_the_display_name(client, user):
    client.force_login(user)

    client.post("/accounts/profile/", {"display_name": "Renamed"})

    user.refresh_from_db()
    assert user.display_name == "Renamed"
