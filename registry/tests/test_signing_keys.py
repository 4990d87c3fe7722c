"""Publisher keys: register or generate, sign a version, revoke."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fmugateway.core.signing import b64, canonical_json
from registry.tests.fixtures import upload_sample

pytestmark = pytest.mark.django_db


def test_generated_key_is_shown_once_and_signs_a_version(
    creator_client, package, ball, artifacts_dir
):
    version = upload_sample(package, ball)
    created = creator_client.post("/api/v1/signing-keys", {"name": "laptop"}, format="json")
    assert created.status_code == 201
    private_pem = created.json()["private_key"]
    listing = creator_client.get("/api/v1/signing-keys").json()["results"]
    assert "private_key" not in listing[0]

    manifest = creator_client.get(
        f"/api/v1/packages/{package.slug}/versions/{version.version}/signatures"
    ).json()["manifest"]
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    signature = b64(private.sign(canonical_json(manifest)))
    signed = creator_client.post(
        f"/api/v1/packages/{package.slug}/versions/{version.version}/signatures",
        {"key_id": created.json()["id"], "signature": signature},
        format="json",
    )

    assert signed.status_code == 201
    assert signed.json()["status"] == "valid"


def test_uploaded_public_key_wrong_signature_and_revocation(
    creator_client, package, ball, artifacts_dir
):
    version = upload_sample(package, ball)
    private = Ed25519PrivateKey.generate()
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = creator_client.post(
        "/api/v1/signing-keys", {"name": "ci", "public_key": pem}, format="json"
    ).json()
    assert "private_key" not in key
    url = f"/api/v1/packages/{package.slug}/versions/{version.version}/signatures"

    bad = creator_client.post(
        url, {"key_id": key["id"], "signature": b64(b"x" * 64)}, format="json"
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "signature_invalid"

    manifest = creator_client.get(url).json()["manifest"]
    creator_client.post(
        url,
        {"key_id": key["id"], "signature": b64(private.sign(canonical_json(manifest)))},
        format="json",
    )
    creator_client.post(
        f"/api/v1/signing-keys/{key['id']}/revoke", {"reason": "leaked"}, format="json"
    )

    signatures = creator_client.get(url).json()["signatures"]
    assert signatures[0]["status"] == "revoked"


def test_other_users_keys_are_not_usable_or_visible(creator_client, package, other_user):
    from rest_framework.test import APIClient

    key = creator_client.post("/api/v1/signing-keys", {"name": "mine"}, format="json").json()
    other = APIClient()
    other.force_authenticate(other_user)

    assert other.get("/api/v1/signing-keys").json()["count"] == 0
    response = other.post(
        f"/api/v1/signing-keys/{key['id']}/revoke", {"reason": "x"}, format="json"
    )
    assert response.status_code == 404


def test_platform_keys_are_published(api_client):
    keys = api_client.get("/api/v1/platform-keys").json()["keys"]

    assert keys[0]["alg"] == "Ed25519"
    assert keys[0]["current"] is True
    assert "BEGIN PUBLIC KEY" in keys[0]["pem"]
