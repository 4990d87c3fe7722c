"""Validation and certification: sandboxed smoke runs, test vectors, signed attestations."""

import json
import shutil

import pytest
from django.core.management import call_command

from fmugateway.core.signing import SignatureInvalid, b64, unb64, verify_document
from registry.models import PackageVersion, ValidationRun
from registry.models import TestVector as VectorRow
from registry.tests.fixtures import upload_sample
from registry.validation import AttestationMismatch, run_validation, verify_attestation

pytestmark = pytest.mark.django_db


def validate(version) -> ValidationRun:
    run = version.validation_runs.get()
    run_validation(run.pk)
    run.refresh_from_db()
    version.refresh_from_db()
    return run


@pytest.mark.parametrize(
    "key",
    [
        ("bouncing_ball", "2.0"),
        ("bouncing_ball", "3.0"),
        ("mass_spring_damper", "2.0"),
        ("mass_spring_damper", "3.0"),
        ("pi_controller", "2.0"),
        ("pi_controller", "3.0"),
    ],
)
def test_sample_fmus_become_certified_with_a_verifiable_attestation(
    key, package, sample_fmus, artifacts_dir
):
    sample = sample_fmus[key]
    version = upload_sample(package, sample)

    run = validate(version)

    assert run.status == ValidationRun.Status.PASSED, run.report
    assert run.report["smoke"]["status"] == "succeeded"
    assert run.report["test_vectors"][0]["passed"] is True
    assert version.certified is True
    payload = verify_attestation(sample.fmu_path, version.attestation)
    assert payload["fmu_sha256"] == sample.sha256
    assert payload["package"] == package.slug


def test_one_changed_byte_in_the_fmu_fails_verification(package, ball, artifacts_dir, tmp_path):
    version = upload_sample(package, ball)
    validate(version)
    tampered = tmp_path / "tampered.fmu"
    data = bytearray(ball.fmu_path.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))

    with pytest.raises(AttestationMismatch):
        verify_attestation(tampered, version.attestation)


def test_one_changed_byte_in_the_attestation_fails_verification(package, ball, artifacts_dir):
    version = upload_sample(package, ball)
    validate(version)
    document = json.loads(json.dumps(version.attestation))
    document["payload"]["version"] = "9.9.9"

    with pytest.raises(SignatureInvalid):
        verify_attestation(ball.fmu_path, document)
    raw = bytearray(unb64(version.attestation["signature"]))
    raw[0] ^= 0x01
    with pytest.raises(SignatureInvalid):
        verify_document({**version.attestation, "signature": b64(bytes(raw))})


def test_a_wrong_reference_fails_the_test_vector_and_certification(
    package, ball, artifacts_dir, tmp_path
):
    wrong = tmp_path / "wrong.csv"
    lines = ball.reference_csv.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    wrong.write_text(
        "\n".join(
            [header]
            + [
                ",".join(
                    [row.split(",")[0]] + [str(float(x) * 1.1 + 0.5) for x in row.split(",")[1:]]
                )
                for row in rows
            ]
        )
        + "\n"
    )
    from registry import services

    version = services.upload_version(
        package,
        uploaded_by=package.owner,
        upload=services.ReceivedFile(
            path=ball.fmu_path, sha256=None, size=ball.fmu_path.stat().st_size
        ),
        version="1.0.0",
        test_vectors=(services.TestVectorInput(reference_path=wrong, columns=("h",)),),
    )

    run = validate(version)

    assert run.status == ValidationRun.Status.FAILED
    assert run.report["test_vectors"][0]["passed"] is False
    assert version.certified is False
    assert version.attestation is None


def test_without_test_vectors_a_version_is_validated_but_not_certified(
    package, ball, artifacts_dir
):
    version = upload_sample(package, ball, with_vector=False)

    run = validate(version)

    assert run.status == ValidationRun.Status.PASSED
    assert version.validation_status == PackageVersion.ValidationStatus.PASSED
    assert version.certified is False
    assert "no test vectors" in run.report["certification_reasons"]


def test_a_run_is_claimed_once(package, ball, artifacts_dir):
    version = upload_sample(package, ball)
    run = version.validation_runs.get()

    first = run_validation(run.pk)
    second = run_validation(run.pk)

    assert first is not None
    assert second is None
    assert VectorRow.objects.count() == 1


def test_manage_py_validate_and_verify_commands(package, ball, artifacts_dir, tmp_path, capsys):
    version = upload_sample(package, ball)
    version.validation_runs.all().delete()

    call_command("validate_fmu", package.slug, "1.0.0")
    version.refresh_from_db()
    assert version.certified
    attestation = tmp_path / "attestation.json"
    attestation.write_text(json.dumps(version.attestation))
    call_command("verify_attestation", str(ball.fmu_path), str(attestation))
    assert "valid" in capsys.readouterr().out

    copy = tmp_path / "copy.fmu"
    shutil.copy(ball.fmu_path, copy)
    with open(copy, "ab") as handle:
        handle.write(b"x")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("verify_attestation", str(copy), str(attestation))


def test_verify_command_refuses_a_public_key_that_is_not_ed25519(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.core.management.base import CommandError

    # Given an attestation and a P-256 public key (attestations are signed with Ed25519)
    attestation = tmp_path / "attestation.json"
    attestation.write_text("{}")
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    # When the command is told to trust it, then it says so instead of failing with a traceback
    with pytest.raises(CommandError, match="not an Ed25519 key"):
        call_command(
            "verify_attestation",
            str(tmp_path / "m.fmu"),
            str(attestation),
            "--public-key",
            str(pem),
        )
