"""POST /api/v1/licenses/verify, activate, deactivate: signed answers with stable codes."""

import secrets
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from fmugateway.core.signing import verify_document
from licensing.models import License
from licensing.services.licenses import (
    reinstate_license,
    revoke_license,
    rotate_key,
    suspend_license,
)
from marketplace.tests.fixtures import issue

pytestmark = pytest.mark.django_db

VERIFY = "/api/v1/licenses/verify"
ACTIVATE = "/api/v1/licenses/activate"
DEACTIVATE = "/api/v1/licenses/deactivate"


def post(api_client, url, key, package="ball", fingerprint="machine-1", **extra):
    response = api_client.post(
        url, {"key": key, "package": package, "fingerprint": fingerprint, **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return verify_document(response.json())  # the platform's signature holds


@pytest.fixture
def licensed(user, download_listing):
    return issue(user, download_listing)


@pytest.fixture
def activated(api_client, licensed):
    payload = post(api_client, ACTIVATE, licensed.key)
    assert payload["code"] == "VALID"
    return licensed


def test_activated_machine_verifies_valid_with_the_documented_fields(api_client, activated):
    payload = post(api_client, VERIFY, activated.key, nonce="n-123")

    assert payload["valid"] is True
    assert payload["code"] == "VALID"
    assert payload["package"] == "ball"
    assert payload["sku_kind"] == "download"
    assert payload["expires_at"] is None
    assert payload["entitlements"] == ["download", "execute"]
    assert payload["remaining_runs"] is None
    assert payload["activation"]["fingerprint"] == "machine-1"
    assert payload["activation"]["activations_used"] == 1
    assert payload["activation"]["max_activations"] == 3
    assert payload["nonce"] == "n-123"


def test_verify_is_anonymous_and_tampering_breaks_the_signature(api_client, activated):
    document = api_client.post(
        VERIFY,
        {"key": activated.key, "package": "ball", "fingerprint": "machine-1"},
        format="json",
    ).json()
    document["payload"]["expires_at"] = "2999-01-01T00:00:00+00:00"

    with pytest.raises(Exception, match="signature"):
        verify_document(document)


def test_unknown_and_malformed_keys_are_not_found(api_client, licensed):
    assert post(api_client, VERIFY, "FMUL-0000-0000-0000-0000-0000-0000")["code"] == "NOT_FOUND"
    assert post(api_client, VERIFY, "nonsense")["code"] == "NOT_FOUND"


def test_a_valid_key_for_another_package_is_not_found(api_client, activated, other_package):
    payload = post(api_client, VERIFY, activated.key, package="tank")

    assert payload["code"] == "NOT_FOUND"
    assert payload["valid"] is False
    assert payload["sku_kind"] is None and payload["entitlements"] == []


def test_revoked_key_for_another_package_is_still_just_not_found(
    api_client, licensed, other_package
):
    revoke_license(licensed.license, reason="test")

    assert post(api_client, VERIFY, licensed.key, package="tank")["code"] == "NOT_FOUND"


def test_revoked_suspended_and_expired(api_client, user, download_listing):
    revoked, suspended, expired = (issue(user, download_listing) for _ in range(3))
    revoke_license(revoked.license, reason="abuse")
    suspend_license(suspended.license, reason="unpaid")
    License.objects.filter(pk=expired.license.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert post(api_client, VERIFY, revoked.key)["code"] == "REVOKED"
    assert post(api_client, VERIFY, suspended.key)["code"] == "SUSPENDED"
    assert post(api_client, VERIFY, expired.key)["code"] == "EXPIRED"


def test_reinstated_license_verifies_again(api_client, activated):
    suspend_license(activated.license, reason="check")
    reinstate_license(activated.license, reason="ok")

    assert post(api_client, VERIFY, activated.key)["code"] == "VALID"


def test_machine_not_activated_is_a_fingerprint_mismatch(api_client, activated):
    payload = post(api_client, VERIFY, activated.key, fingerprint="someone-elses-laptop")

    assert payload["code"] == "FINGERPRINT_MISMATCH"
    assert payload["valid"] is False


def test_verify_can_activate_until_the_slots_are_taken(api_client, user, download_listing):
    issued = issue(user, download_listing)  # max 3 activations
    codes = [
        post(api_client, VERIFY, issued.key, fingerprint=f"m{n}", activate=True)["code"]
        for n in range(4)
    ]

    assert codes == ["VALID", "VALID", "VALID", "TOO_MANY_ACTIVATIONS"]


def test_activation_is_idempotent_per_machine(api_client, activated):
    payload = post(api_client, ACTIVATE, activated.key)

    assert payload["code"] == "VALID"
    assert payload["activation"]["activations_used"] == 1


def test_deactivation_frees_a_slot(api_client, user, download_listing):
    issued = issue(user, download_listing)
    for n in range(3):
        post(api_client, ACTIVATE, issued.key, fingerprint=f"m{n}")
    assert post(api_client, ACTIVATE, issued.key, fingerprint="m3")["code"] == (
        "TOO_MANY_ACTIVATIONS"
    )

    post(api_client, DEACTIVATE, issued.key, fingerprint="m0")

    assert post(api_client, ACTIVATE, issued.key, fingerprint="m3")["code"] == "VALID"
    assert post(api_client, VERIFY, issued.key, fingerprint="m0")["code"] == (
        "FINGERPRINT_MISMATCH"
    )


def test_deactivating_an_unknown_machine_is_a_mismatch(api_client, activated):
    assert post(api_client, DEACTIVATE, activated.key, fingerprint="m9")["code"] == (
        "FINGERPRINT_MISMATCH"
    )


def test_execute_only_license_has_no_download_entitlement(api_client, user, execute_listing):
    issued = issue(user, execute_listing)
    post(api_client, ACTIVATE, issued.key)

    plain = post(api_client, VERIFY, issued.key)
    download = post(api_client, VERIFY, issued.key, entitlement="download")

    assert plain["code"] == "VALID"
    assert plain["entitlements"] == ["execute"]
    assert plain["remaining_runs"] == 100
    assert download["code"] == "NO_ENTITLEMENT"


def test_used_up_run_quota_is_no_entitlement(api_client, user, execute_listing):
    issued = issue(user, execute_listing)
    post(api_client, ACTIVATE, issued.key)
    License.objects.filter(pk=issued.license.pk).update(runs_remaining=0)

    assert post(api_client, VERIFY, issued.key)["code"] == "NO_ENTITLEMENT"


def test_rotated_key_stops_working_at_once(api_client, activated, user):
    new = rotate_key(activated.license, user)

    assert post(api_client, VERIFY, activated.key)["code"] == "NOT_FOUND"
    assert post(api_client, VERIFY, new.key)["code"] == "VALID"  # activations survive


def test_missing_fields_are_a_400_with_field_errors(api_client):
    response = api_client.post(VERIFY, {"key": "FMUL-x"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"package", "fingerprint"}


def test_verify_is_one_query(api_client, activated, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert post(api_client, VERIFY, activated.key)["code"] == "VALID"


def test_per_key_limit_answers_429_with_retry_after(api_client, settings, licensed):
    settings.LICENSE_VERIFY_RATE_PER_KEY = "3/min"
    body = {"key": licensed.key, "package": "ball", "fingerprint": "m"}
    statuses = [api_client.post(VERIFY, body, format="json").status_code for _ in range(4)]
    other_key = issue(licensed.license.owner, licensed.license.listing).key

    response = api_client.post(VERIFY, body, format="json")

    assert statuses == [200, 200, 200, 429]
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    other = api_client.post(VERIFY, {**body, "key": other_key}, format="json")
    assert other.status_code == 200


def test_per_ip_limit_answers_429(api_client, settings, user, download_listing):
    settings.LICENSE_VERIFY_RATE_PER_IP = "2/min"
    ip = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    keys = [issue(user, download_listing).key for _ in range(3)]

    statuses = [
        api_client.post(
            VERIFY, {"key": key, "package": "ball", "fingerprint": "m"}, REMOTE_ADDR=ip
        ).status_code
        for key in keys
    ]

    assert statuses == [200, 200, 429]


def test_hand_written_lookup_matches_the_models():
    from licensing.models import Activation
    from registry.models import Package

    # services.licenses._LOOKUP_SQL names these tables and columns.
    assert License._meta.db_table == "marketplace_license"
    assert Activation._meta.db_table == "marketplace_activation"
    assert Package._meta.db_table == "registry_package"


@pytest.mark.redis
def test_both_limits_are_counted_in_one_redis_round_trip(api_client, licensed, settings):
    from unittest import mock

    from django.core.cache import caches

    from fmugateway.core.ratelimit import redis_client

    client = redis_client(caches["default"])
    post(api_client, VERIFY, licensed.key, fingerprint="warm-up")  # the script is loaded

    with mock.patch.object(client, "execute_command", wraps=client.execute_command) as sent:
        post(api_client, VERIFY, licensed.key)

    ((command, _sha, key_count, *args),) = [call.args for call in sent.call_args_list]
    assert (command, key_count) == ("EVALSHA", 2)
    assert [key.split(":")[-2] for key in args[:2]] == ["license_verify_ip", "license_verify_key"]


# --- sliding windows: the time the throttles count on is pinned ---------------------------

CACHE_BACKENDS = {
    "redis": None,  # the test settings' cache
    "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"},
}


@pytest.fixture(params=list(CACHE_BACKENDS))
def throttle_cache(request, settings):
    """Each sliding-window test runs on Redis (the Lua script) and on the cache fallback."""
    if CACHE_BACKENDS[request.param]:
        settings.CACHES = {"default": CACHE_BACKENDS[request.param]}
    return request.param


@pytest.fixture
def clock(monkeypatch):
    """Pins the throttles' clock; set ``clock.now`` (epoch seconds) before each request."""
    from fmugateway.core import ratelimit

    class Clock:
        now = 0.0

    pinned = Clock()
    monkeypatch.setattr(ratelimit, "clock", lambda: pinned.now)
    return pinned


def fresh_ip() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"


def test_a_burst_across_a_minute_boundary_passes_the_per_ip_limit_once(
    api_client, settings, activated, clock, throttle_cache
):
    settings.LICENSE_VERIFY_RATE_PER_IP = "5/min"
    settings.LICENSE_VERIFY_RATE_PER_KEY = ""
    ip = fresh_ip()
    body = {"key": activated.key, "package": "ball", "fingerprint": "machine-1"}
    boundary = (int(time.time()) // 60 + 1) * 60  # the next minute boundary (epoch seconds)

    responses = []
    for at in [boundary - 0.5] * 5 + [boundary + 0.5] * 5:
        clock.now = at
        responses.append(api_client.post(VERIFY, body, format="json", REMOTE_ADDR=ip))

    assert [r.status_code for r in responses] == [200] * 5 + [429] * 5
    assert responses[-1].json()["code"] == "throttled"
    # The first burst leaves the window 60 s after it came: 59 s after the second.
    assert responses[-1]["Retry-After"] == "59"


def test_a_request_passes_again_once_the_oldest_counted_one_leaves_the_window(
    api_client, settings, licensed, clock, throttle_cache
):
    settings.LICENSE_VERIFY_RATE_PER_KEY = "3/min"
    ip = fresh_ip()
    body = {"key": licensed.key, "package": "ball", "fingerprint": "m"}
    start = time.time()

    def verify_at(offset: float):
        clock.now = start + offset
        return api_client.post(VERIFY, body, format="json", REMOTE_ADDR=ip)

    passed = [verify_at(offset).status_code for offset in (0, 10, 20)]
    full = verify_at(30)
    still_full = verify_at(59.5)
    again = verify_at(60)  # the request of 0 s has left the window
    full_again = verify_at(60)

    assert passed == [200, 200, 200]
    assert (full.status_code, full["Retry-After"]) == (429, "30")
    assert (still_full.status_code, still_full["Retry-After"]) == (429, "1")
    # Refused requests were not counted: they did not push the wait further.
    assert again.status_code == 200
    assert (full_again.status_code, full_again["Retry-After"]) == (429, "10")
