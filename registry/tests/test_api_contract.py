"""The registry's answers are what the OpenAPI document says: typed reports, signed documents
whose every signed key is described, and bounded numbers in what clients send."""

import io
import json

import pytest

from fmugateway.core.signing import verify_document
from registry.tests.fixtures import upload_sample
from registry.tests.openapi import assert_conforms, component
from registry.validation import run_validation

pytestmark = pytest.mark.django_db

V = "/api/v1/packages/{slug}/versions/{version}"


def _json_file(document) -> io.BytesIO:
    upload = io.BytesIO(json.dumps(document).encode())
    upload.name = "attestation.json"
    return upload


@pytest.fixture
def certified(package, ball, artifacts_dir):
    version = upload_sample(package, ball)
    run_validation(version.validation_runs.get().pk)
    version.refresh_from_db()
    assert version.certified
    return version


def test_model_card_scan_and_validation_reports_are_typed(creator_client, certified):
    base = f"/api/v1/packages/ball/versions/{certified.version}"

    card = creator_client.get(base)
    scan = creator_client.get(f"{base}/scan")
    validation = creator_client.get(f"{base}/validation")

    assert card.status_code == scan.status_code == validation.status_code == 200
    assert card.json()["inspection"]["interfaces"][0]["model_identifier"]
    assert card.json()["default_experiment"]["stop_time"] is not None
    assert scan.json()["risk_level"] in ("none", "low", "medium", "high", "critical")
    assert validation.json()["report"]["test_vectors"][0]["passed"] is True
    assert_conforms("GET", V, 200, card.json())
    assert_conforms("GET", f"{V}/scan", 200, scan.json())
    assert_conforms("GET", f"{V}/validation", 200, validation.json())


def test_the_attestation_is_served_as_signed_and_every_signed_key_is_documented(
    creator_client, certified, ball
):
    url = f"/api/v1/packages/ball/versions/{certified.version}/attestation"

    document = creator_client.get(url).json()
    with ball.fmu_path.open("rb") as fmu:
        checked = creator_client.post(
            "/api/v1/attestations/verify",
            {"file": fmu, "attestation": _json_file(document)},
            format="multipart",
        )

    assert verify_document(document)["fmu_sha256"] == ball.sha256
    assert set(document["payload"]) == set(component("AttestationPayload")["properties"])
    assert_conforms("GET", f"{V}/attestation", 200, document)
    assert checked.status_code == 200
    assert checked.json() == {"valid": True, "payload": document["payload"]}
    assert_conforms("POST", "/api/v1/attestations/verify", 200, checked.json())


def test_signatures_and_keys_are_described(creator_client, certified):
    key = creator_client.post("/api/v1/signing-keys", {"name": "ci"}, format="json")
    signatures = creator_client.get(
        f"/api/v1/packages/ball/versions/{certified.version}/signatures"
    )
    keys = creator_client.get("/api/v1/platform-keys")

    assert key.status_code == 201 and key.json()["private_key"].startswith("-----BEGIN")
    assert_conforms("POST", "/api/v1/signing-keys", 201, key.json())
    assert signatures.json()["manifest"]["fmu_sha256"] == certified.sha256
    assert_conforms("GET", f"{V}/signatures", 200, signatures.json())
    assert keys.json()["keys"][0]["current"] is True
    assert_conforms("GET", "/api/v1/platform-keys", 200, keys.json())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("atol", "1e13"),
        ("rtol", "2"),
        ("start_values", '{"k": {"nested": 1}}'),
        ("start_values", "[1, 2]"),
    ],
)
def test_an_upload_with_a_tolerance_or_start_value_out_of_range_is_refused(
    creator_client, package, ball, artifacts_dir, field, value
):
    with ball.fmu_path.open("rb") as fmu, ball.reference_csv.open("rb") as reference:
        response = creator_client.post(
            "/api/v1/packages/ball/versions",
            {"file": fmu, "version": "1.0.0", "reference_csv": reference, field: value},
            format="multipart",
        )

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
