"""The Python SDK and the fmugw CLI against a live server over real HTTP."""

import json

import pytest
from fmugateway_sdk import ApiError, FMUGatewayClient, SignatureError, verify_attestation
from fmugateway_sdk.cli import main as cli

from billing.services.api_keys import create_api_key
from registry.models import Package, PackageVersion
from registry.tests.fixtures import upload_sample
from registry.validation import run_validation


@pytest.fixture
def published(creator, sample_fmus):
    from registry.factories import PackageFactory

    package = PackageFactory(owner=creator, slug="ball", status=Package.Status.LISTED)
    version = upload_sample(package, sample_fmus[("bouncing_ball", "2.0")])
    run_validation(version.validation_runs.get().pk)
    version.refresh_from_db()
    assert version.certified
    return version


@pytest.fixture
def api_key(creator):
    return create_api_key(creator, name="sdk", scopes=["read", "run", "publish"]).secret


@pytest.mark.django_db(transaction=True)
def test_key_to_token_to_calls_and_stable_error_codes(live_server, api_key, published):
    client = FMUGatewayClient(live_server.url, api_key)

    packages = client.packages()
    assert [p["slug"] for p in packages] == ["ball"]
    assert client._token is not None  # the key was exchanged for a short-lived token
    variables = client.variables("ball", "1.0.0", causality="parameter")
    assert {v["name"] for v in variables} == {"g", "e", "v_min"}
    with pytest.raises(ApiError) as missing:
        client.package("no-such-package")
    assert missing.value.status == 404
    assert missing.value.code == "not_found"


@pytest.mark.django_db(transaction=True)
def test_attestation_verifies_offline_with_saved_keys(
    live_server, api_key, published, sample_fmus, tmp_path
):
    client = FMUGatewayClient(live_server.url, api_key)
    keys = client.platform_keys()
    attestation = client.attestation("ball", "1.0.0")
    fmu = sample_fmus[("bouncing_ball", "2.0")].fmu_path

    payload = verify_attestation(fmu, attestation, keys)

    assert payload["fmu_sha256"] == published.sha256
    tampered = tmp_path / "t.fmu"
    tampered.write_bytes(fmu.read_bytes() + b"\0")
    with pytest.raises(SignatureError):
        verify_attestation(tampered, attestation, keys)
    forged = json.loads(json.dumps(attestation))
    forged["payload"]["version"] = "6.6.6"
    with pytest.raises(SignatureError):
        verify_attestation(fmu, forged, keys)


@pytest.mark.django_db(transaction=True)
def test_upload_streams_the_raw_file(live_server, api_key, creator, sample_fmus):
    from registry.factories import PackageFactory

    PackageFactory(owner=creator, slug="msd")
    client = FMUGatewayClient(live_server.url, api_key)
    sample = sample_fmus[("mass_spring_damper", "3.0")]

    card = client.upload_version("msd", sample.fmu_path, "2.0.0", changelog="via SDK")

    assert card["sha256"] == sample.sha256
    assert card["fmi_version"] == "3.0"
    assert PackageVersion.objects.get(package__slug="msd").changelog == "via SDK"
    with pytest.raises(ApiError) as again:
        client.upload_version("msd", sample.fmu_path, "2.0.1")
    assert again.value.code == "duplicate_file"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_run_wait_results_csv_and_plot(
    celery_worker_process, live_server, api_key, published, tmp_path
):
    client = FMUGatewayClient(live_server.url, api_key)

    job = client.run("ball", "1.0.0", stop_time=1.0, start_values={"e": 0.5}).wait(timeout=60)
    columns = job.results()

    assert job.status == "succeeded"
    assert columns["time"][0] == 0.0
    assert columns["h"][0] == pytest.approx(1.0)
    assert job.save_csv(tmp_path / "r.csv").read_text(encoding="utf-8").startswith("time,")
    assert job.save_mat(tmp_path / "r.mat").read_bytes()[:19] == b"MATLAB 5.0 MAT-file"
    assert job.save_plot(tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.django_db(transaction=True)
def test_cli_lists_packages_and_reports_errors(live_server, api_key, published, capsys):
    base = ["--url", live_server.url, "--api-key", api_key]

    assert cli([*base, "packages"]) == 0
    assert "ball" in capsys.readouterr().out
    assert cli([*base, "show", "nope"]) == 2
    assert "not_found" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_revoked_key_cannot_mint_tokens(live_server, creator, published):
    from billing.models import ApiKey
    from billing.services.api_keys import revoke_api_key

    secret = create_api_key(creator, name="old", scopes=["read"]).secret
    revoke_api_key(ApiKey.objects.get(name="old"))

    with pytest.raises(ApiError) as refused:
        FMUGatewayClient(live_server.url, secret).packages()

    assert refused.value.status in (401, 403)
    assert refused.value.code == "api_key_revoked"
