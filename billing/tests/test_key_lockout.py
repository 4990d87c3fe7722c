"""Lockout of failed API-key presentations (issue 13): per key id from one IP, and per IP.

Decided: a key id is locked for the IP that failed with it, never for every IP, so the owner's
right key keeps working from elsewhere; an IP that fails with many keys is locked for all keys.
"""

import secrets
import time

import pytest
from django.core.cache import caches
from django.core.management import call_command
from rest_framework.test import APIClient

from billing.services import api_keys, key_lockout
from fmugateway.core.models import AuditEntry

pytestmark = pytest.mark.django_db
LEDGER = "/api/v1/billing/ledger"
STRANGER = "203.0.113.5"
OWNER = "198.51.100.7"


def present(secret: str, ip: str, path: str = LEDGER, method: str = "get", **extra):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    return getattr(client, method)(path, REMOTE_ADDR=ip, **extra)


def wrong_secret(secret: str) -> str:
    public_id = api_keys.parse_key(secret)
    return f"fmugw_live_{public_id}_{secrets.token_urlsafe(32)}"


def unknown_key() -> str:
    return f"fmugw_live_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"


def end_locks(public_id: str | None, ip: str) -> None:
    """Rewrite the stored locks as if their time had run out."""
    for lock in key_lockout.lock_keys(public_id, ip):
        if caches["default"].get(lock) is not None:
            caches["default"].set(lock, int(time.time()) - 1, timeout=60)


@pytest.fixture(params=["redis", "no redis"])
def cache_kind(request, settings):
    if request.param == "no redis":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
        caches["default"].clear()  # locmem outlives the test; Redis is cleared by conftest
    return request.param


def test_wrong_secrets_lock_that_key_id_from_that_ip_only(api_key, cache_kind):
    _, secret = api_key

    answers = [present(wrong_secret(secret), STRANGER) for _ in range(10)]
    right_from_stranger = present(secret, STRANGER)
    right_from_owner = present(secret, OWNER)
    again_from_stranger = present(secret, STRANGER)  # the key is now in the process's cache

    assert [a.status_code for a in answers] == [401] * 9 + [429]
    assert {a.json()["code"] for a in answers[:9]} == {"api_key_unknown"}
    assert right_from_stranger.status_code == 429
    body = right_from_stranger.json()
    assert body["code"] == "too_many_attempts"
    assert body["fields"] == {}
    assert "try again later" in body["detail"]
    assert 14 * 60 < int(right_from_stranger["Retry-After"]) <= 15 * 60
    assert right_from_owner.status_code == 200
    assert again_from_stranger.status_code == 429


def test_unknown_key_ids_lock_the_ip_for_every_key(api_key, settings, cache_kind):
    settings.API_KEY_FAILURE_LIMIT_PER_IP = 12
    _, secret = api_key

    answers = [present(unknown_key(), STRANGER) for _ in range(12)]

    assert [a.status_code for a in answers] == [401] * 11 + [429]
    assert present(secret, STRANGER).status_code == 429
    assert present(secret, OWNER).status_code == 200


def test_malformed_keys_count_against_the_ip(api_key, settings):
    settings.API_KEY_FAILURE_LIMIT_PER_IP = 3

    answers = [present("fmugw_live_garbage", STRANGER) for _ in range(3)]

    assert [a.json()["code"] for a in answers] == ["api_key_malformed"] * 2 + ["too_many_attempts"]
    assert present(api_key[1], STRANGER).status_code == 429


def test_guesses_count_on_every_endpoint_and_the_token_exchange_is_refused(api_key, settings):
    settings.API_KEY_FAILURE_LIMIT = 4
    _, secret = api_key
    for path in ("/api/v1/jobs", LEDGER, "/api/v1/api-keys", "/api/v1/me"):
        present(wrong_secret(secret), STRANGER, path=path)

    exchange = present(secret, STRANGER, path="/api/v1/auth/token", method="post")

    assert exchange.status_code == 429
    assert exchange.json()["code"] == "too_many_attempts"
    assert present(secret, OWNER, path="/api/v1/auth/token", method="post").status_code == 200


def test_a_forged_x_forwarded_for_does_not_dodge_the_lock(api_key, settings):
    settings.API_KEY_FAILURE_LIMIT = 3
    _, secret = api_key
    for n in range(3):
        present(wrong_secret(secret), STRANGER, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")

    assert present(secret, STRANGER, HTTP_X_FORWARDED_FOR=OWNER).status_code == 429


def test_the_lockout_ends_on_time_and_refused_guesses_do_not_extend_it(api_key, cache_kind):
    key, secret = api_key
    for _ in range(10):
        present(wrong_secret(secret), STRANGER)
    refused = [present(wrong_secret(secret), STRANGER) for _ in range(20)]

    end_locks(key.public_id, STRANGER)

    assert {r.status_code for r in refused} == {429}
    assert present(secret, STRANGER).status_code == 200
    # The refused guesses were not counted: a fresh window starts from zero.
    assert present(wrong_secret(secret), STRANGER).json()["code"] == "api_key_unknown"


def test_presenting_a_revoked_key_is_not_a_guess(api_key, settings):
    settings.API_KEY_FAILURE_LIMIT = 3
    key, secret = api_key
    api_keys.revoke_api_key(key)

    answers = [present(secret, STRANGER) for _ in range(6)]

    assert {a.json()["code"] for a in answers} == {"api_key_revoked"}


def test_a_lockout_is_audited_once_with_the_key(api_key):
    key, secret = api_key
    for _ in range(15):
        present(wrong_secret(secret), STRANGER)

    entry = AuditEntry.objects.get(action="billing.api_key.locked_out")

    assert entry.target_type == "billing.apikey"
    assert entry.target_id == str(key.pk)
    assert entry.ip == STRANGER
    assert entry.after["scope"] == "key_and_ip"
    assert entry.after["failures"] == 10


@pytest.mark.redis
def test_staff_can_end_a_lockout_with_a_command(api_key, capsys):
    _, secret = api_key
    for _ in range(10):
        present(wrong_secret(secret), STRANGER)

    call_command("reset_api_key_lockouts", ip=STRANGER)

    assert present(secret, STRANGER).status_code == 200
    assert AuditEntry.objects.filter(action="billing.api_key.lockout_reset").count() == 1
