"""FMU bytes encrypted at rest: what is stored, the paths that decrypt, tampering, rotation,
converting old plaintext artifacts, and the settings that must be right."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from django.core.files.storage import InMemoryStorage
from django.core.management import call_command
from django.core.management.base import CommandError

from execution.models import JobStatus, SimulationJob
from execution.tests.fixtures import eager_jobs, publish, run_eagerly, storage_dirs
from fmugateway.core import storage as artifact_storage
from fmugateway.core.artifact_crypto import (
    MAGIC,
    ArtifactIntegrityError,
    ArtifactKeyUnavailable,
    EncryptingReader,
    encrypted_size,
)
from fmugateway.core.models import AuditEntry, ObjectDataKey
from fmugateway.core.storage import local_copy
from registry.models import PackageVersion, ValidationRun
from registry.tests.fixtures import upload_sample
from registry.validation import run_validation

FIXTURES = (eager_jobs, storage_dirs)  # shared fixtures (execution/tests/fixtures.py)
REPO = Path(__file__).resolve().parents[2]
ZIP_MAGIC = b"PK\x03\x04"

pytestmark = pytest.mark.django_db


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored(storage_dirs, key: str) -> Path:
    return storage_dirs["artifacts"] / key


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def my_plaintext_copies() -> list[Path]:
    return [
        path
        for path in artifact_storage._plaintext_dir().iterdir()
        if path.name.startswith(f"{artifact_storage._copy_prefix()}{os.getpid()}-")
    ]


def download(client, version):
    base = f"/api/v1/packages/{version.package.slug}/versions/{version.version}"
    link = client.post(f"{base}/download-url")
    assert link.status_code == 201, link.json()
    return client.get(link.json()["url"])


# --- what is stored ------------------------------------------------------------------------


def test_stored_fmu_and_test_vector_are_encrypted_not_zip_nor_plaintext(
    package, ball, storage_dirs
):
    version = upload_sample(package, ball)
    plain = ball.fmu_path.read_bytes()

    fmu = stored(storage_dirs, version.artifact_key).read_bytes()
    reference = stored(storage_dirs, version.test_vectors.get().reference_key).read_bytes()

    assert plain.startswith(ZIP_MAGIC)
    assert not fmu.startswith(ZIP_MAGIC) and fmu.startswith(MAGIC)
    assert fmu != plain and plain[100:164] not in fmu and b"modelDescription.xml" not in fmu
    assert reference.startswith(MAGIC)
    assert ball.reference_csv.read_bytes()[:40] not in reference
    # the recorded sha256 is the plaintext's, as before
    assert version.sha256 == sha256(plain) and version.size == len(plain)
    row = ObjectDataKey.objects.get(storage="artifacts", name=version.artifact_key)
    assert row.master_key_id == "test-1" and not row.pending


def test_local_copy_is_the_plaintext_and_is_removed_after_use(package, ball, storage_dirs):
    version = upload_sample(package, ball)
    left_by_a_killed_worker = artifact_storage._plaintext_dir() / (
        f"{artifact_storage._copy_prefix()}{2**22 + 1}-left.fmu"  # above any pid_max: dead
    )
    left_by_a_killed_worker.write_bytes(b"plaintext")

    with local_copy("artifacts", version.artifact_key, ".fmu") as path:
        assert path.suffix == ".fmu"
        assert sha256(path.read_bytes()) == version.sha256
        assert path.stat().st_mode & 0o077 == 0  # private to the worker's user

    assert not path.exists()
    assert my_plaintext_copies() == []
    assert not left_by_a_killed_worker.exists()


def test_upload_validation_job_and_download_work_end_to_end(
    creator, creator_client, package, ball, eager_jobs, django_capture_on_commit_callbacks
):
    with open(ball.fmu_path, "rb") as fmu, open(ball.reference_csv, "rb") as reference:
        response = creator_client.post(
            f"/api/v1/packages/{package.slug}/versions",
            {
                "file": fmu,
                "version": "1.0.0",
                "reference_csv": reference,
                "rtol": ball.tolerance.rtol,
                "atol": ball.tolerance.atol,
            },
            format="multipart",
        )
    assert response.status_code == 201, response.json()
    version = PackageVersion.objects.get(pk=response.json()["id"])
    assert stored(eager_jobs, version.artifact_key).read_bytes().startswith(MAGIC)

    run = version.validation_runs.get()
    run_validation(run.pk)
    run.refresh_from_db()
    assert run.status == ValidationRun.Status.PASSED, run.report
    assert run.report["test_vectors"][0]["passed"] is True

    version = publish(version)
    with run_eagerly(django_capture_on_commit_callbacks):
        job = creator_client.post(
            "/api/v1/jobs", {"version_id": version.pk, "stop_time": 1.0}, format="json"
        )
    assert job.status_code == 201, job.json()
    job = SimulationJob.objects.get(pk=job.json()["id"])
    assert job.status == JobStatus.SUCCEEDED, (job.error_code, job.error_message)
    assert job.sha256 == version.sha256

    answer = download(creator_client, version)
    assert answer.status_code == 200
    body = b"".join(answer.streaming_content)
    assert answer["Content-Length"] == str(version.size)
    assert sha256(body) == version.sha256 == sha256(ball.fmu_path.read_bytes())
    assert my_plaintext_copies() == []


def test_a_large_artifact_is_streamed_in_bounded_memory(storage_dirs, tmp_path):
    size = 64 * 1024 * 1024 + 12345
    source = tmp_path / "large.fmu"
    with open(source, "wb") as handle:
        handle.write(os.urandom(1024 * 1024))
        handle.truncate(size)  # the rest is a sparse run of zeros
    expected = hashlib.sha256()
    with open(source, "rb") as handle:
        while block := handle.read(1 << 20):
            expected.update(block)

    tracemalloc.start()
    try:
        key = artifact_storage.save_encrypted("artifacts", "large/one.fmu", source)
        with local_copy("artifacts", key, ".fmu") as path:
            copied = hashlib.sha256()
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    copied.update(block)
        opened = artifact_storage.open_decrypted("artifacts", key)
        streamed = hashlib.sha256()
        with opened.stream as stream:
            while block := stream.read(64 * 1024):
                streamed.update(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert stored(storage_dirs, key).stat().st_size == encrypted_size(size)
    assert opened.size == size
    assert copied.hexdigest() == streamed.hexdigest() == expected.hexdigest()
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak / 2**20:.1f} MiB"


class PathlessStorage(InMemoryStorage):
    """Stands in for a bucket: like S3Storage, it has no local paths."""

    def _relative_path(self, name):
        return os.path.relpath(super().path(name), self.location)

    def path(self, name):
        raise NotImplementedError("no local paths, as on S3")


def test_a_storage_without_local_paths_is_decrypted_into_a_private_copy(settings, tmp_path):
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages

    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {"BACKEND": f"{__name__}.PathlessStorage"},
    }
    source = tmp_path / "model.fmu"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    plain = source.read_bytes()

    key = artifact_storage.save_encrypted("artifacts", "packages/1/model.fmu", source)

    bucket = storages["artifacts"]
    with bucket.open(key, "rb") as handle:
        ciphertext = handle.read()
    assert ciphertext.startswith(MAGIC) and len(ciphertext) == encrypted_size(len(plain))
    with local_copy("artifacts", key, ".fmu") as path:
        assert path.read_bytes() == plain
        assert path.parent == artifact_storage._plaintext_dir()
    assert not path.exists()
    opened = artifact_storage.open_decrypted("artifacts", key)
    with opened.stream as stream:
        assert (opened.size, stream.read()) == (len(plain), plain)

    bucket.delete(key)
    bucket.save(key, ContentFile(ciphertext[:-1]))
    with pytest.raises(ArtifactIntegrityError), local_copy("artifacts", key, ".fmu"):
        pytest.fail("a truncated object was handed out")
    with pytest.raises(ArtifactIntegrityError):
        artifact_storage.open_decrypted("artifacts", key)


# --- tampering -----------------------------------------------------------------------------


def _tamper(path: Path, how: str) -> None:
    if how == "magic":
        flip(path, 2)
    elif how == "header":
        flip(path, 20)  # the plaintext size
    elif how == "body":
        flip(path, 24 + 100)
    elif how == "tag":
        flip(path, path.stat().st_size - 1)
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:-10])
    elif how == "extended":
        path.write_bytes(path.read_bytes() + b"\0")
    elif how == "plaintext":
        path.write_bytes(b"PK\x03\x04 not what was stored")


TAMPERING = ["magic", "header", "body", "tag", "truncated", "extended", "plaintext"]


@pytest.mark.parametrize("how", TAMPERING)
def test_tampering_is_detected_before_the_sandbox_gets_a_file(how, package, ball, storage_dirs):
    version = upload_sample(package, ball)
    _tamper(stored(storage_dirs, version.artifact_key), how)

    with (
        pytest.raises(ArtifactIntegrityError) as caught,
        local_copy("artifacts", version.artifact_key, ".fmu"),
    ):
        pytest.fail("a tampered artifact was handed out")

    assert caught.value.code == "artifact_integrity"
    assert caught.value.status_code == 503
    assert my_plaintext_copies() == []
    assert AuditEntry.objects.filter(action="core.artifact.integrity_failed").exists()


@pytest.mark.parametrize("how", ["header", "body", "truncated", "plaintext"])
def test_a_tampered_artifact_is_refused_on_download_with_a_clear_error(
    how, creator_client, package, ball, storage_dirs
):
    version = publish(upload_sample(package, ball))
    _tamper(stored(storage_dirs, version.artifact_key), how)

    response = download(creator_client, version)

    assert response.status_code == 503
    assert response.json()["code"] == "artifact_integrity"
    assert version.artifact_key not in response.json()["detail"]  # no storage key leaks
    version.refresh_from_db()
    assert version.download_count == 0


def _rechunk(storage_dirs, version, chunk_size: int) -> None:
    """Re-encrypt the stored file with small chunks under its own data key (as a large FMU)."""
    row = ObjectDataKey.objects.get(storage="artifacts", name=version.artifact_key)
    data_key = artifact_storage._unwrap(row)
    path = stored(storage_dirs, version.artifact_key)
    with local_copy("artifacts", version.artifact_key, ".fmu") as plain_path:
        plain = plain_path.read_bytes()
    path.write_bytes(EncryptingReader(io.BytesIO(plain), data_key, len(plain), chunk_size).read())


def test_tampering_late_in_a_large_file_ends_the_download_before_the_bad_chunk(
    creator_client, package, ball, storage_dirs
):
    version = publish(upload_sample(package, ball))
    chunk = 1024
    assert version.size > 5 * chunk
    _rechunk(storage_dirs, version, chunk)
    assert sha256(download(creator_client, version).getvalue()) == version.sha256
    path = stored(storage_dirs, version.artifact_key)
    flip(path, 24 + 3 * (chunk + 16) + 10)  # in chunk 3

    response = download(creator_client, version)
    assert response.status_code == 200  # header, key, first chunk and length are fine
    received = b""
    with pytest.raises(ArtifactIntegrityError):
        for block in response.streaming_content:
            received += block
    response.close()

    assert received == ball.fmu_path.read_bytes()[: len(received)]  # only authentic bytes
    assert len(received) <= 3 * chunk
    assert int(response["Content-Length"]) == version.size > len(received)


def test_a_job_on_a_tampered_artifact_fails_clearly_and_costs_nothing(
    user, user_client, package, ball, eager_jobs, django_capture_on_commit_callbacks
):
    from billing.services import balance_of, get_account

    version = publish(upload_sample(package, ball))
    flip(stored(eager_jobs, version.artifact_key), 24 + 100)
    start = get_account(user).balance

    with run_eagerly(django_capture_on_commit_callbacks):
        response = user_client.post("/api/v1/jobs", {"version_id": version.pk}, format="json")

    assert response.status_code == 201, response.json()
    job = SimulationJob.objects.get(pk=response.json()["id"])
    assert (job.status, job.error_code) == (JobStatus.FAILED, "artifact_integrity")
    assert version.artifact_key not in job.error_message
    assert balance_of(user) == start
    assert user_client.get(f"/api/v1/jobs/{job.pk}").json()["error_code"] == "artifact_integrity"


def test_a_sweep_on_a_tampered_artifact_fails_every_run_and_finishes(
    user, user_client, package, ball, eager_jobs, django_capture_on_commit_callbacks
):
    from billing.services import balance_of, get_account
    from execution.models import SimulationBatch

    version = publish(upload_sample(package, ball))
    flip(stored(eager_jobs, version.artifact_key), 24 + 100)
    start = get_account(user).balance

    with run_eagerly(django_capture_on_commit_callbacks):
        response = user_client.post(
            "/api/v1/batches",
            {"version_id": version.pk, "stop_time": 1.0, "runs": [{}, {}, {}]},
            format="json",
        )

    assert response.status_code == 201, response.json()
    batch = SimulationBatch.objects.get(pk=response.json()["id"])
    runs = SimulationJob.objects.filter(batch=batch)
    assert {(run.status, run.error_code) for run in runs} == {
        (JobStatus.FAILED, "artifact_integrity")
    }
    assert (batch.runs_total, batch.runs_failed) == (3, 3)
    assert batch.status in (JobStatus.FAILED, JobStatus.SUCCEEDED)
    assert balance_of(user) == start


# --- rotation ------------------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    }


def test_rotation_rewraps_every_data_key_without_rewriting_objects(
    package, sample_fmus, storage_dirs, settings
):
    old = settings.ARTIFACT_MASTER_KEYS["test-1"]
    versions = [
        upload_sample(package, sample_fmus[("bouncing_ball", "2.0")]),
        upload_sample(package, sample_fmus[("mass_spring_damper", "2.0")], version="2.0.0"),
    ]
    before = _snapshot(storage_dirs["artifacts"])
    assert ObjectDataKey.objects.filter(master_key_id="test-1").count() == 4  # 2 FMUs, 2 CSVs
    new = os.urandom(32)
    settings.ARTIFACT_MASTER_KEYS = {"k2": new, "test-1": old}

    out = io.StringIO()
    call_command("rotate_artifact_keys", stdout=out)

    assert "Rewrapped 4 data key(s) under k2" in out.getvalue()
    assert set(ObjectDataKey.objects.values_list("master_key_id", flat=True)) == {"k2"}
    assert _snapshot(storage_dirs["artifacts"]) == before  # not one byte rewritten
    settings.ARTIFACT_MASTER_KEYS = {"k2": new}  # the old key can go
    for version in versions:
        with local_copy("artifacts", version.artifact_key, ".fmu") as path:
            assert sha256(path.read_bytes()) == version.sha256
    call_command("rotate_artifact_keys", "--check", stdout=io.StringIO())
    again = io.StringIO()
    call_command("rotate_artifact_keys", stdout=again)
    assert "Rewrapped 0 data key(s)" in again.getvalue()
    assert AuditEntry.objects.filter(action="core.artifacts.keys_rotated").count() == 2


def test_dropping_a_master_key_still_in_use_is_refused_loudly(
    package, ball, storage_dirs, settings
):
    from django.core.checks import run_checks

    version = upload_sample(package, ball)
    settings.ARTIFACT_MASTER_KEYS = {"k2": os.urandom(32)}

    with (
        pytest.raises(ArtifactKeyUnavailable) as caught,
        local_copy("artifacts", version.artifact_key, ".fmu"),
    ):
        pytest.fail("an artifact opened without its master key")
    assert caught.value.code == "artifact_key_unavailable"
    with pytest.raises(CommandError, match="still wrapped by master keys other than k2"):
        call_command("rotate_artifact_keys", "--check", stdout=io.StringIO())
    errors = [m for m in run_checks(databases=["default"]) if m.id == "fmugateway.E021"]
    assert errors and "test-1 (2)" in errors[0].msg


def test_a_data_key_cannot_be_moved_to_another_object(package, sample_fmus, storage_dirs):
    one = upload_sample(package, sample_fmus[("bouncing_ball", "2.0")])
    two = upload_sample(package, sample_fmus[("mass_spring_damper", "2.0")], version="2.0.0")
    key_one = ObjectDataKey.objects.get(name=one.artifact_key)
    stored(storage_dirs, two.artifact_key).write_bytes(
        stored(storage_dirs, one.artifact_key).read_bytes()
    )
    ObjectDataKey.objects.filter(name=two.artifact_key).update(wrapped_key=key_one.wrapped_key)

    with pytest.raises(ArtifactIntegrityError), local_copy("artifacts", two.artifact_key, ".fmu"):
        pytest.fail("a swapped artifact was handed out")


# --- artifacts stored before encryption ------------------------------------------------------


def _as_before_encryption(storage_dirs, version, sample) -> None:
    """Put the version's files back as they were stored before this change: plaintext, no
    data key."""
    stored(storage_dirs, version.artifact_key).write_bytes(sample.fmu_path.read_bytes())
    vector = version.test_vectors.get()
    stored(storage_dirs, vector.reference_key).write_bytes(sample.reference_csv.read_bytes())
    ObjectDataKey.objects.all().delete()


def test_encrypt_artifacts_converts_plaintext_artifacts_and_is_idempotent(
    creator_client, package, ball, storage_dirs
):
    version = publish(upload_sample(package, ball))
    _as_before_encryption(storage_dirs, version, ball)
    with local_copy("artifacts", version.artifact_key, ".fmu") as path:  # still readable
        assert sha256(path.read_bytes()) == version.sha256

    dry = io.StringIO()
    call_command("encrypt_artifacts", "--dry-run", stdout=dry)
    assert "would encrypt 2, already encrypted 0" in dry.getvalue()
    out = io.StringIO()
    call_command("encrypt_artifacts", stdout=out)

    assert "encrypted 2, already encrypted 0, failed 0" in out.getvalue()
    fmu = stored(storage_dirs, version.artifact_key)
    assert fmu.read_bytes().startswith(MAGIC)
    assert stored(storage_dirs, version.test_vectors.get().reference_key).read_bytes()[:8] == MAGIC
    assert ObjectDataKey.objects.filter(pending=False).count() == 2
    with local_copy("artifacts", version.artifact_key, ".fmu") as path:
        assert sha256(path.read_bytes()) == version.sha256
    assert sha256(download(creator_client, version).getvalue()) == version.sha256

    converted = fmu.read_bytes()
    again = io.StringIO()
    call_command("encrypt_artifacts", stdout=again)
    assert "encrypted 0, already encrypted 2, failed 0" in again.getvalue()
    assert fmu.read_bytes() == converted
    assert AuditEntry.objects.filter(action="core.artifacts.encrypted").count() == 2


def test_an_interrupted_conversion_is_readable_and_finished_by_the_next_run(
    package, ball, storage_dirs
):
    version = upload_sample(package, ball)
    _as_before_encryption(storage_dirs, version, ball)
    # Stopped after recording the data key, before replacing the object:
    artifact_storage.encrypt_existing_object("artifacts", version.artifact_key)
    stored(storage_dirs, version.artifact_key).write_bytes(ball.fmu_path.read_bytes())
    ObjectDataKey.objects.filter(name=version.artifact_key).update(pending=True)
    with local_copy("artifacts", version.artifact_key, ".fmu") as path:
        assert sha256(path.read_bytes()) == version.sha256

    call_command("encrypt_artifacts", stdout=io.StringIO())

    assert not ObjectDataKey.objects.filter(pending=True).exists()
    assert stored(storage_dirs, version.artifact_key).read_bytes().startswith(MAGIC)
    with local_copy("artifacts", version.artifact_key, ".fmu") as path:
        assert sha256(path.read_bytes()) == version.sha256


# --- settings ------------------------------------------------------------------------------


def manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    drop = {
        "SECRET_KEY",
        "KEY_HASH_SECRET",
        "DEBUG",
        "DJANGO_SETTINGS_MODULE",
        "ARTIFACT_MASTER_KEYS",
        "ARTIFACT_MASTER_KEYS_FILE",
        "S3_BUCKET_NAME",
        "S3_SSE",
        "S3_SSE_KMS_KEY_ID",
    }
    clean = {k: v for k, v in os.environ.items() if k not in drop}
    clean.update(
        {
            "VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "fmugateway.settings",
            "DEBUG": "false",
            "SECRET_KEY": "a-production-like-secret-key-0123456789abcdefghij",
            "KEY_HASH_SECRET": "k" * 40,
        }
    )
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


KEY = "prod-1:" + "A" * 43  # 32 zero bytes, URL-safe base64 without padding


def test_production_refuses_to_start_without_a_master_key(tmp_path):
    result = manage(tmp_path, "check")

    assert result.returncode != 0
    assert "ARTIFACT_MASTER_KEYS (or ARTIFACT_MASTER_KEYS_FILE) must be set" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("prod-1:" + "A" * 20, "must be 32"),
        ("no-id-" + "A" * 43, "id:base64key"),
        ("a:" + "A" * 43 + ",a:" + "B" * 43, "given twice"),
    ],
)
def test_a_bad_master_key_stops_the_process(tmp_path, value, message):
    result = manage(tmp_path, "check", ARTIFACT_MASTER_KEYS=value)

    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.slow
def test_master_keys_from_a_file_and_development_keys_are_refused_by_deploy_check(tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text(KEY + "\n")
    assert manage(tmp_path, "check", ARTIFACT_MASTER_KEYS_FILE=str(key_file)).returncode == 0

    result = manage(tmp_path, "check", "--deploy", DEBUG="true")
    assert "fmugateway.E020" in result.stderr
    assert (tmp_path / "secrets" / "artifact_master_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_s3_server_side_encryption_is_passed_to_the_private_storages(tmp_path):
    script = (
        "import json; from django.core.files.storage import storages;"
        "print(json.dumps({name: storages[name]._get_write_parameters('x.fmu')"
        " for name in ('artifacts', 'results', 'media')}))"
    )
    result = manage(
        tmp_path,
        "shell",
        "-c",
        script,
        ARTIFACT_MASTER_KEYS=KEY,
        S3_BUCKET_NAME="fmugw-private",
        S3_SSE="aws:kms",
        S3_SSE_KMS_KEY_ID="alias/fmugw-artifacts",
    )
    assert result.returncode == 0, result.stderr
    params = json.loads(result.stdout.strip().splitlines()[-1])

    for private in ("artifacts", "results"):
        assert params[private]["ServerSideEncryption"] == "aws:kms"
        assert params[private]["SSEKMSKeyId"] == "alias/fmugw-artifacts"
    assert "ServerSideEncryption" not in params["media"]

    sse_s3 = manage(
        tmp_path,
        "shell",
        "-c",
        script,
        ARTIFACT_MASTER_KEYS=KEY,
        S3_BUCKET_NAME="b",
        S3_SSE="aes256",
    )
    assert (
        json.loads(sse_s3.stdout.strip().splitlines()[-1])["artifacts"]["ServerSideEncryption"]
        == "AES256"
    )
    refused = manage(tmp_path, "check", ARTIFACT_MASTER_KEYS=KEY, S3_SSE_KMS_KEY_ID="alias/x")
    assert refused.returncode != 0 and "S3_SSE_KMS_KEY_ID needs S3_SSE=aws:kms" in refused.stderr
    unencrypted = manage(
        tmp_path, "check", "--deploy", ARTIFACT_MASTER_KEYS=KEY, S3_BUCKET_NAME="b"
    )
    assert "fmugateway.W020" in unencrypted.stderr
