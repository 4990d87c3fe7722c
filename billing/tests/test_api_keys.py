"""API keys: shown once, hashed at rest, scoped, owner-only, revocable, audited."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from billing.factories import make_api_key
from billing.models import ApiKey
from billing.services import api_keys
from fmugateway.core.models import AuditEntry

pytestmark = pytest.mark.django_db
URL = "/api/v1/api-keys"


def client_with(secret: str, header: str = "x-api-key") -> APIClient:
    client = APIClient()
    if header == "x-api-key":
        client.credentials(HTTP_X_API_KEY=secret)
    else:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_created_key_is_shown_once_and_stored_only_as_a_keyed_hash(user_client, user):
    response = user_client.post(URL, {"name": "CI", "scopes": ["read", "run"]}, format="json")

    assert response.status_code == 201
    secret = response.json()["key"]
    assert secret.startswith("fmugw_live_")
    public_id, _, token = secret.removeprefix("fmugw_live_").partition("_")
    assert len(token) >= 43  # 32 bytes of urlsafe base64
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM billing_apikey WHERE public_id = %s", [public_id])
        row = [str(value) for value in cursor.fetchone()]
    assert not any(token in value for value in row)
    assert not any(secret in value for value in row)
    assert ApiKey.objects.get(public_id=public_id).secret_hash == api_keys.hash_key(secret)
    listed = user_client.get(URL).json()["results"]
    assert [item["prefix"] for item in listed] == [f"fmugw_live_{public_id}"]
    assert "key" not in listed[0] and token not in str(listed)
    assert response["Cache-Control"] == "no-store"


def test_key_authenticates_with_either_header(api_key):
    _, secret = api_key

    for header in ("x-api-key", "bearer"):
        response = client_with(secret, header).get("/api/v1/billing/ledger")
        assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda s: s[:-5], "api_key_malformed"),
        (lambda s: "fmugw_live_nothex_" + "a" * 43, "api_key_malformed"),
        (lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"), "api_key_unknown"),
        (lambda s: "fmugw_live_" + "0" * 16 + "_" + "a" * 43, "api_key_unknown"),
    ],
)
def test_bad_keys_get_distinct_401_codes(api_key, mangle, code):
    response = client_with(mangle(api_key[1])).get("/api/v1/billing/ledger")

    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_rejected_with_its_own_code(user_client, api_key):
    key, secret = api_key

    assert user_client.delete(f"{URL}/{key.pk}").status_code == 204
    response = client_with(secret).get("/api/v1/billing/ledger")

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_revoked"


def test_expired_key_is_rejected_with_its_own_code(user):
    key, secret = make_api_key(user, expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client_with(secret).get("/api/v1/billing/ledger")

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_expired"


def test_key_of_a_disabled_account_is_rejected(user, api_key):
    user.is_active = False
    user.save()

    response = client_with(api_key[1]).get("/api/v1/billing/ledger")

    assert response.status_code == 401
    assert response.json()["code"] == "account_disabled"


def test_no_credentials_is_401_with_a_challenge(api_client):
    response = api_client.get("/api/v1/billing/ledger")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.urls("billing.tests.urls")
def test_read_key_cannot_start_a_job(read_key_client, key_client, user_client):
    refused = read_key_client.post("/api/v1/test/run")

    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert key_client.post("/api/v1/test/run").status_code == 201
    assert user_client.post("/api/v1/test/run").status_code == 201  # sessions have every scope


def test_key_cannot_create_a_key_with_more_scopes_than_itself(read_key_client):
    response = read_key_client.post(URL, {"name": "x", "scopes": ["run"]}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


def test_unknown_scope_is_a_field_error(user_client):
    response = user_client.post(URL, {"name": "x", "scopes": ["admin"]}, format="json")

    assert response.status_code == 400
    assert response.json()["fields"]["scopes.0"][0]["code"] == "invalid_choice"


def test_other_users_key_is_404_for_read_and_revoke(user_client, other_user):
    theirs, _ = make_api_key(other_user)

    assert user_client.get(f"{URL}/{theirs.pk}").status_code == 404
    assert user_client.delete(f"{URL}/{theirs.pk}").status_code == 404
    assert user_client.get(URL).json()["results"] == []
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_creation_and_revocation_are_audited_once(user_client, user):
    created = user_client.post(URL, {"name": "CI", "scopes": ["read"]}, format="json").json()

    user_client.delete(f"{URL}/{created['id']}")
    user_client.delete(f"{URL}/{created['id']}")  # idempotent

    actions = list(
        AuditEntry.objects.filter(target_type="billing.apikey", target_id=str(created["id"]))
        .order_by("id")
        .values_list("action", "actor_id")
    )
    assert actions == [("billing.api_key.created", user.pk), ("billing.api_key.revoked", user.pk)]
    assert "fmugw_live_" not in str(AuditEntry.objects.values_list("after", flat=True))


def test_last_used_at_is_written_at_most_once_a_minute(api_key):
    key, secret = api_key
    client = client_with(secret)

    with CaptureQueriesContext(connection) as first:
        client.get("/api/v1/billing/ledger")
    with CaptureQueriesContext(connection) as second:
        client.get("/api/v1/billing/ledger")

    updates = [q["sql"] for q in first.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1 and "last_used_at" in updates[0]
    assert not [q for q in second.captured_queries if q["sql"].startswith("UPDATE")]
    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.redis
def test_authenticated_list_costs_one_query_once_the_key_is_known(
    api_key, django_assert_num_queries
):
    client = client_with(api_key[1])
    client.get("/api/v1/billing/ledger")  # first use: key looked up, last_used_at written

    with django_assert_num_queries(1):  # the page; the key comes from this process's memory
        assert client.get("/api/v1/billing/ledger").status_code == 200


def test_a_key_in_use_stops_working_at_the_next_request_once_revoked(user_client, api_key):
    # Given a key this process has verified and remembers
    key, secret = api_key
    client = client_with(secret)
    assert client.get("/api/v1/billing/ledger").status_code == 200
    assert client.get("/api/v1/billing/ledger").status_code == 200

    # When its owner revokes it
    assert user_client.delete(f"{URL}/{key.pk}").status_code == 204

    # Then the very next request is refused
    response = client.get("/api/v1/billing/ledger")
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_revoked"


def test_a_remembered_key_is_refused_once_it_expires(user):
    key, secret = make_api_key(user, expires_at=timezone.now() + timedelta(hours=1))
    assert api_keys.authenticate_key(secret).pk == key.pk  # remembered from here on

    with pytest.raises(api_keys.KeyExpired):
        api_keys.authenticate_key(secret, now=timezone.now() + timedelta(hours=2))


def test_a_remembered_key_with_a_wrong_secret_is_unknown(api_key):
    secret = api_key[1]
    assert client_with(secret).get("/api/v1/billing/ledger").status_code == 200

    wrong = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    response = client_with(wrong).get("/api/v1/billing/ledger")

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_unknown"


def test_a_remembered_key_of_an_account_disabled_later_is_refused(user, api_key):
    client = client_with(api_key[1])
    assert client.get("/api/v1/billing/ledger").status_code == 200

    user.is_active = False
    user.save(update_fields=["is_active"])
    response = client.get("/api/v1/billing/ledger")

    assert response.status_code == 401
    assert response.json()["code"] == "account_disabled"


def test_keys_are_looked_up_again_when_the_revocation_stamps_are_lost(api_key):
    # Given a remembered key, and then Redis loses every stamp (flushed or restarted)
    from django.core.cache import cache

    client = client_with(api_key[1])
    assert client.get("/api/v1/billing/ledger").status_code == 200
    cache.delete(f"billing:auth-stamp:{api_key[0].owner_id}")

    # Then the key is read from the database again, and revoking it still works at once
    with CaptureQueriesContext(connection) as lookups:
        assert client.get("/api/v1/billing/ledger").status_code == 200
    assert any("billing_apikey" in query["sql"] for query in lookups.captured_queries)
    api_keys.revoke_api_key(api_key[0])
    assert client.get("/api/v1/billing/ledger").json()["code"] == "api_key_revoked"


def test_active_key_limit(user, monkeypatch):
    monkeypatch.setattr(api_keys, "MAX_ACTIVE_KEYS_PER_USER", 2)
    make_api_key(user)
    make_api_key(user)

    with pytest.raises(api_keys.DomainError) as error:
        make_api_key(user)
    assert error.value.code == "too_many_api_keys"


@pytest.mark.parametrize("with_plan", [False, True])
def test_fast_key_lookup_matches_the_orm(user, with_plan):
    from billing.services import plans

    if with_plan:
        plans.change_plan(user, "pro")
    key, _ = make_api_key(user, scopes=("read", "licenses"))
    key = ApiKey.objects.select_related("owner", "owner__account_plan").get(pk=key.pk)

    fast = api_keys.fetch_key(key.public_id)

    def fields(obj):
        return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}

    assert fields(fast) == fields(key)
    assert fields(fast.owner) == fields(key.owner)
    assert fast.scopes == ["read", "licenses"]
    assert type(fast.owner).account_plan.is_cached(fast.owner)
    if with_plan:
        assert fields(fast.owner.account_plan) == fields(key.owner.account_plan)
    else:
        assert plans.plan_for(fast.owner).code == "free"
    assert api_keys.fetch_key("0" * 16) is None


@pytest.mark.django_db(transaction=True)
def test_keys_that_held_every_scope_keep_buying_and_managing_keys_after_the_migration(user):
    from django.db.migrations.executor import MigrationExecutor

    full, _ = make_api_key(user, scopes=("read", "run", "publish", "licenses"), name="full")
    narrow, _ = make_api_key(user, scopes=("read",), name="narrow")
    before = [("billing", "0005_account_plan_overage_rate_override")]
    after = [("billing", "0006_api_keys_gain_orders_and_account_scopes")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    try:
        ApiKey.objects.filter(pk=full.pk).update(scopes=["read", "run", "publish", "licenses"])
        MigrationExecutor(connection).migrate(after)
    finally:  # the later migrations too, or the rest of the session runs on an older schema
        MigrationExecutor(connection).migrate(latest)

    full.refresh_from_db()
    narrow.refresh_from_db()
    assert set(full.scopes) == {"read", "run", "publish", "licenses", "orders", "account"}
    assert narrow.scopes == ["read"]
