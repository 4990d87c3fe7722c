"""Short-lived tokens: minted from a usable key, EdDSA-signed, rotated keys, revocation on use."""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from rest_framework.response import Response
from rest_framework.test import APIClient

from billing import token_keys
from billing.factories import CreditAccountFactory, make_api_key
from billing.services import api_keys, tokens

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/v1/auth/token"


def mint(secret: str, **data) -> Response:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    return client.post(TOKEN_URL, data, format="json")


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def segments(token: str) -> tuple[dict, dict]:
    def load(part: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    header, payload, _ = token.split(".")
    return load(header), load(payload)


def test_key_is_exchanged_for_a_token_with_account_plan_scopes_and_balance(user, api_key):
    CreditAccountFactory(user=user, balance=42)

    response = mint(api_key[1])

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    header, claims = segments(body["access_token"])
    assert header["alg"] == "EdDSA" and header["kid"] == token_keys.signing_key().kid
    assert claims["sub"] == str(user.pk)
    assert claims["plan"] == "free"
    assert claims["scopes"] == ["read", "run"]
    assert claims["credits"] == 42
    assert claims["exp"] - claims["iat"] == 900
    assert claims["akid"] == api_key[0].public_id


def test_token_authenticates_api_requests(api_key):
    token = mint(api_key[1]).json()["access_token"]

    assert bearer(token).get("/api/v1/billing/ledger").status_code == 200


def test_token_ttl_is_a_setting(settings, api_key):
    settings.TOKEN_TTL_SECONDS = 60

    assert mint(api_key[1]).json()["expires_in"] == 60


def test_token_can_be_narrowed_but_not_widened(user):
    _, secret = make_api_key(user, scopes=("read",))

    narrowed = mint(secret, scopes=["read"])
    widened = mint(secret, scopes=["read", "run"])

    assert narrowed.status_code == 200
    assert widened.status_code == 403
    assert widened.json()["code"] == "insufficient_scope"


@pytest.mark.urls("billing.tests.urls")
def test_token_scopes_are_enforced(api_key):
    token = mint(api_key[1], scopes=["read"]).json()["access_token"]

    response = bearer(token).post("/api/v1/test/run")

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


def test_expired_token_is_401_token_expired(api_key):
    issued = tokens.mint_token(api_key[0], now=time.time() - 3600)

    response = bearer(issued.token).get("/api/v1/billing/ledger")

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),  # signature
        lambda t: t.split(".")[0] + "." + t.split(".")[1][:-2] + "." + t.split(".")[2],
        lambda t: "not-a-jwt",
        lambda t: "a.b.c",
        lambda t: t + ".extra",
    ],
)
def test_tampered_token_is_401_token_invalid(api_key, tamper):
    token = mint(api_key[1]).json()["access_token"]

    response = bearer(tamper(token)).get("/api/v1/billing/ledger")

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_unsigned_and_foreign_key_tokens_are_invalid(api_key):
    claims = tokens.mint_token(api_key[0]).claims

    def b64(data: dict) -> str:
        return token_keys.b64url(json.dumps(data).encode())

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    other = Ed25519PrivateKey.generate()
    foreign = tokens.encode(
        claims, token_keys.SigningKey(kid=token_keys.key_id(other.public_key()), private_key=other)
    )

    for token in (unsigned, foreign):
        with pytest.raises(tokens.TokenInvalid):
            tokens.decode(token)


def test_revoked_key_cannot_mint(user, api_key):
    api_keys.revoke_api_key(api_key[0], actor=user)

    response = mint(api_key[1])

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_revoked"


def test_tokens_stop_working_when_their_key_is_revoked(user, api_key):
    token = mint(api_key[1]).json()["access_token"]
    assert bearer(token).get("/api/v1/billing/ledger").status_code == 200

    api_keys.revoke_api_key(api_key[0], actor=user)
    response = bearer(token).get("/api/v1/billing/ledger")

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_revoked"


def test_a_token_cannot_mint_tokens_and_sessions_cannot_either(api_key, user_client):
    token = mint(api_key[1]).json()["access_token"]

    assert bearer(token).post(TOKEN_URL).status_code in (401, 403)
    assert user_client.post(TOKEN_URL).status_code == 403


def test_jwks_publishes_the_key_that_verifies_tokens(api_client, api_key):
    token = mint(api_key[1]).json()["access_token"]

    response = api_client.get("/api/v1/auth/jwks")

    assert response.status_code == 200
    assert "max-age" in response["Cache-Control"]
    header, _ = segments(token)
    (jwk,) = [k for k in response.json()["keys"] if k["kid"] == header["kid"]]
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["alg"] == "EdDSA"
    public = Ed25519PublicKey.from_public_bytes(
        base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    )
    signing_input, _, signature = token.rpartition(".")
    public.verify(
        base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
        signing_input.encode(),
    )


def test_rotation_keeps_tokens_of_the_retired_key_valid(settings, api_key):
    old_token = mint(api_key[1]).json()["access_token"]
    old_public = serialization.load_pem_private_key(
        settings.TOKEN_SIGNING_KEY.encode(), None
    ).public_key()

    settings.TOKEN_SIGNING_KEY = token_keys.generate_private_pem()
    assert bearer(old_token).get("/api/v1/billing/ledger").status_code == 401

    settings.TOKEN_VERIFY_KEYS = token_keys.public_pem(old_public)
    new_token = mint(api_key[1]).json()["access_token"]
    assert segments(new_token)[0]["kid"] != segments(old_token)[0]["kid"]
    assert bearer(old_token).get("/api/v1/billing/ledger").status_code == 200
    assert bearer(new_token).get("/api/v1/billing/ledger").status_code == 200
    assert len(APIClient().get("/api/v1/auth/jwks").json()["keys"]) == 2


def test_encrypted_signing_key(settings, api_key):
    settings.TOKEN_SIGNING_KEY = token_keys.generate_private_pem(b"pw")
    settings.TOKEN_SIGNING_KEY_PASSWORD = "pw"

    assert mint(api_key[1]).status_code == 200


def test_without_a_signing_key_production_answers_503(settings, api_key):
    settings.TOKEN_SIGNING_KEY = None
    settings.DEBUG = False
    settings.ALLOW_GENERATED_SIGNING_KEYS = False

    response = mint(api_key[1])

    assert response.status_code == 503
    assert response.json()["code"] == "token_signing_unavailable"


def test_debug_generates_an_encrypted_key_once(settings, tmp_path, api_key):
    settings.TOKEN_SIGNING_KEY = None
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path

    first = token_keys.signing_key().kid
    second = token_keys.signing_key().kid

    path = tmp_path / "secrets" / token_keys.DEV_KEY_NAME
    assert first == second
    assert b"ENCRYPTED" in path.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o600
    assert mint(api_key[1]).status_code == 200


def test_generate_token_key_command_prints_a_usable_key(settings, api_key):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("generate_token_key", stdout=out)
    private = out.getvalue().split("-----BEGIN PUBLIC KEY-----")[0]
    settings.TOKEN_SIGNING_KEY = private

    assert f"kid: {token_keys.signing_key().kid}" in out.getvalue()
    assert mint(api_key[1]).status_code == 200
