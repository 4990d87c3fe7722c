"""Sign-in protection: lockout of password sign-ins (storefront and admin) and the password
reset limits. Issue 13: 60 wrong passwords, then the right one logged in."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.utils import timezone

from accounts.factories import UserFactory
from fmugateway.core.models import AuditEntry

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"  # accounts.factories.UserFactory's


def sign_in(client, email, password, *, ip="10.0.0.1", path="/accounts/login/", **extra):
    return client.post(path, {"username": email, "password": password}, REMOTE_ADDR=ip, **extra)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def age_attempts(by: timedelta, **match) -> None:
    """Move the matching failures into the past, as if ``by`` had gone by."""
    for attempt in AccessAttempt.objects.filter(**match):
        AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - by)


def test_wrong_passwords_then_the_right_one_is_refused_on_the_storefront(client, user, settings):
    responses = [sign_in(client, user.email, f"guess {n}") for n in range(5)]

    right = sign_in(client, user.email, PASSWORD)

    assert [r.status_code for r in responses] == [200, 200, 200, 200, 429]
    assert right.status_code == 429
    assert not signed_in(client)
    assert b"Too many failed sign-in attempts" in right.content
    assert b"site-header" in right.content  # the site's own page, not a bare text answer
    assert 14 * 60 < int(right["Retry-After"]) <= 15 * 60


def test_wrong_passwords_then_the_right_one_is_refused_on_the_admin(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    for n in range(5):
        sign_in(client, staff.email, f"guess {n}", path="/admin/login/?next=/admin/")

    right = sign_in(client, staff.email, PASSWORD, path="/admin/login/?next=/admin/")

    assert right.status_code == 429
    assert not signed_in(client)
    assert client.get("/admin/").status_code == 302  # still sent to the login page


def test_the_lockout_ends_after_the_cool_off(client, user):
    for n in range(5):
        sign_in(client, user.email, f"guess {n}")
    assert sign_in(client, user.email, PASSWORD).status_code == 429

    age_attempts(timedelta(minutes=15, seconds=1))
    response = sign_in(client, user.email, PASSWORD)

    assert response.status_code == 302
    assert signed_in(client)


def test_attempts_refused_while_locked_do_not_extend_the_lock(client, user):
    for n in range(5):
        sign_in(client, user.email, f"guess {n}")
    age_attempts(timedelta(minutes=14))

    assert sign_in(client, user.email, "still guessing").status_code == 429
    age_attempts(timedelta(minutes=1, seconds=1))

    assert sign_in(client, user.email, PASSWORD).status_code == 302


def test_a_locked_account_does_not_lock_another_account_or_its_owner_elsewhere(client, user):
    other = UserFactory()
    for n in range(5):
        sign_in(client, user.email, f"guess {n}", ip="203.0.113.7")

    assert sign_in(client, other.email, PASSWORD, ip="198.51.100.2").status_code == 302
    client.logout()
    # The stranger's five guesses came from one IP: the owner elsewhere still signs in.
    assert sign_in(client, user.email, PASSWORD, ip="198.51.100.3").status_code == 302


def test_one_account_guessed_from_many_ips_is_locked(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 6
    for n in range(6):
        sign_in(client, user.email, f"guess {n}", ip=f"192.0.2.{n + 1}")

    assert sign_in(client, user.email, PASSWORD, ip="192.0.2.99").status_code == 429
    assert not signed_in(client)


def test_many_accounts_sprayed_from_one_ip_are_locked(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_IP = 8
    for n in range(8):
        sign_in(client, f"someone{n}@example.com", "Summer2026!", ip="203.0.113.9")

    assert sign_in(client, user.email, PASSWORD, ip="203.0.113.9").status_code == 429
    assert sign_in(client, user.email, PASSWORD, ip="203.0.113.10").status_code == 302


def test_a_forged_x_forwarded_for_does_not_dodge_the_lock(client, user):
    for n in range(5):
        sign_in(client, user.email, f"guess {n}", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")

    response = sign_in(client, user.email, PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.200")

    assert response.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"10.0.0.1"}


def test_the_failures_kept_for_staff_hold_no_secrets(client, user):
    client.get("/accounts/login/")  # sets the CSRF cookie the form posts back
    sign_in(client, user.email, "my real password, mistyped")

    attempt = AccessAttempt.objects.get()

    assert attempt.username == user.email
    assert "mistyped" not in attempt.post_data
    assert client.cookies["csrftoken"].value not in attempt.post_data


def test_the_address_is_counted_whatever_its_case(client, user):
    for n in range(5):
        sign_in(client, user.email.upper() if n % 2 else user.email, f"guess {n}")

    assert sign_in(client, user.email, PASSWORD).status_code == 429


def test_signing_in_clears_ones_own_typos(client, user):
    for n in range(4):
        sign_in(client, user.email, f"typo {n}")
    assert sign_in(client, user.email, PASSWORD).status_code == 302
    client.logout()

    responses = [sign_in(client, user.email, f"typo again {n}") for n in range(4)]

    assert [r.status_code for r in responses] == [200] * 4


def test_a_lockout_is_audited_once(client, user):
    for n in range(5):
        sign_in(client, user.email, f"guess {n}")
    sign_in(client, user.email, PASSWORD)
    sign_in(client, user.email, "more")

    entries = AuditEntry.objects.filter(action="accounts.login.locked_out")
    assert entries.count() == 1
    entry = entries.get()
    assert entry.target_id == str(user.pk)
    assert entry.ip == "10.0.0.1"
    assert entry.after["counters"] == {"account_ip": {"failures": 5, "limit": 5}}


def test_staff_see_the_lockout_in_the_admin_and_can_end_it(client, user):
    for n in range(5):
        sign_in(client, user.email, f"guess {n}")
    staff = UserFactory(is_staff=True, is_superuser=True)
    admin = client.__class__()
    admin.force_login(staff)

    listing = admin.get("/admin/axes/accessattempt/?locked=yes")
    unlocked = admin.post(
        "/admin/axes/accessattempt/",
        {
            "action": "unlock_accounts",
            "_selected_action": list(AccessAttempt.objects.values_list("pk", flat=True)),
        },
    )

    assert listing.status_code == 200
    assert user.email.encode() in listing.content
    assert b"account from this IP" in listing.content
    assert unlocked.status_code == 302
    assert not AccessAttempt.objects.filter(username=user.email).exists()
    entry = AuditEntry.objects.get(action="accounts.login.unlocked")
    assert entry.actor_id == staff.pk
    assert entry.after["usernames"] == [user.email]
    assert sign_in(client, user.email, PASSWORD).status_code == 302


def test_the_lock_page_says_when_to_try_again(client, user):
    for n in range(5):
        sign_in(client, user.email, f"guess {n}")
    until = timezone.now() + timedelta(minutes=15)

    response = sign_in(client, user.email, PASSWORD)

    assert until.strftime("%H:%M").encode() in response.content or (
        (until - timedelta(minutes=1)).strftime("%H:%M").encode() in response.content
    )
    assert b"in about 15 minutes" in response.content


# --- Password reset --------------------------------------------------------------------------


def request_reset(client, email, *, ip="10.0.0.1"):
    return client.post("/accounts/password/reset/", {"email": email}, REMOTE_ADDR=ip)


def test_password_reset_requests_are_limited_per_address_whether_it_exists_or_not(client, user):
    known = [request_reset(client, user.email, ip=f"192.0.2.{n}") for n in range(4)]
    unknown = [request_reset(client, "nobody@example.com", ip=f"192.0.2.{n}") for n in range(4)]

    assert [r.status_code for r in known] == [302, 302, 302, 429]
    assert [r.status_code for r in unknown] == [302, 302, 302, 429]
    assert len(mail.outbox) == 3
    assert b"too many reset requests for this address" in known[3].content
    # The same page for both: nothing tells whether the address has an account.
    assert known[3].content == unknown[3].content
    assert int(known[3]["Retry-After"]) > 0


def test_password_reset_requests_are_limited_per_ip(client, user, settings):
    settings.PASSWORD_RESET_RATE_PER_IP = "4/hour"
    responses = [request_reset(client, f"someone{n}@example.com") for n in range(5)]

    other_ip = request_reset(client, user.email, ip="198.51.100.4")

    assert [r.status_code for r in responses] == [302] * 4 + [429]
    assert b"too many reset requests from your network" in responses[4].content
    assert other_ip.status_code == 302
    assert len(mail.outbox) == 1
    entry = AuditEntry.objects.get(action="accounts.password_reset.throttled")
    assert entry.after["scope"] == "ip"
