"""Uploading versions: the model card on success; a specific code and nothing kept on failure."""

import io
import zipfile

import pytest

from fmugateway.core.models import AuditEntry
from fmugateway.core.storage import local_copy
from fmugateway.testing import require_shared_fmus
from registry.models import PackageVersion
from registry.models import TestVector as VectorRow
from registry.tests import fmu_builders
from registry.tests.fixtures import stored_files

pytestmark = pytest.mark.django_db


def post_fmu(client, slug, path, version="1.0.0", **extra):
    with open(path, "rb") as handle:
        return client.post(
            f"/api/v1/packages/{slug}/versions",
            {"file": handle, "version": version, **extra},
            format="multipart",
        )


def test_upload_sample_fmu_returns_its_model_card(creator_client, package, ball, artifacts_dir):
    with open(ball.reference_csv, "rb") as reference:
        response = post_fmu(
            creator_client,
            package.slug,
            ball.fmu_path,
            changelog="First",
            reference_csv=reference,
            rtol=ball.tolerance.rtol,
            atol=ball.tolerance.atol,
        )

    assert response.status_code == 201, response.json()
    card = response.json()
    assert card["fmi_version"] == "2.0"
    assert card["sha256"] == ball.sha256
    assert sorted(card["kinds"]) == ["CS", "ME"]
    assert "x86_64-linux" in card["platforms"]
    assert card["validation_status"] == "pending"
    version = PackageVersion.objects.get(pk=card["id"])
    assert {v.name for v in version.variables.all()} >= {"h", "v", "g", "e"}
    assert version.variables.get(name="h").unit == "m"
    assert VectorRow.objects.filter(version=version).count() == 1
    # the FMU and the reference are stored, encrypted; the FMU reads back byte-identical
    files = stored_files(artifacts_dir)
    assert len(files) == 2
    assert not any(f.read_bytes() == ball.fmu_path.read_bytes() for f in files)
    with local_copy("artifacts", version.artifact_key, ".fmu") as path:
        assert path.read_bytes() == ball.fmu_path.read_bytes()
    assert AuditEntry.objects.filter(action="registry.version.uploaded").count() == 1


def test_variables_endpoint_filters(creator_client, package, ball, artifacts_dir):
    post_fmu(creator_client, package.slug, ball.fmu_path)

    params = creator_client.get(
        f"/api/v1/packages/{package.slug}/versions/1.0.0/variables?causality=parameter"
    ).json()["results"]
    named = creator_client.get(
        f"/api/v1/packages/{package.slug}/versions/1.0.0/variables?q=der("
    ).json()["results"]

    assert {v["name"] for v in params} == {"g", "e", "v_min"}
    assert {v["name"] for v in named} == {"der(h)", "der(v)"}


def test_same_file_twice_is_refused(creator_client, package, ball, artifacts_dir):
    post_fmu(creator_client, package.slug, ball.fmu_path)

    again = post_fmu(creator_client, package.slug, ball.fmu_path, version="1.0.1")

    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_file"
    assert len(stored_files(artifacts_dir)) == 1


def test_same_version_twice_is_refused(creator_client, package, sample_fmus, artifacts_dir):
    post_fmu(creator_client, package.slug, sample_fmus[("bouncing_ball", "2.0")].fmu_path)

    again = post_fmu(creator_client, package.slug, sample_fmus[("bouncing_ball", "3.0")].fmu_path)

    assert again.status_code == 409
    assert again.json()["code"] == "version_exists"


def test_bad_semver_is_a_field_error(creator_client, package, ball, artifacts_dir):
    response = post_fmu(creator_client, package.slug, ball.fmu_path, version="v1")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_version"
    assert stored_files(artifacts_dir) == []


def test_other_user_cannot_upload_to_my_package(package, ball, other_user, artifacts_dir):
    from rest_framework.test import APIClient

    package.status = "listed"
    package.save()
    client = APIClient()
    client.force_authenticate(other_user)

    response = post_fmu(client, package.slug, ball.fmu_path)

    assert response.status_code == 403
    assert stored_files(artifacts_dir) == []


def test_malformed_reference_csv_is_rejected_before_storing(
    creator_client, package, ball, artifacts_dir
):
    bad = io.BytesIO(b"time,h\n0,1\nnot,a number\n")
    bad.name = "reference.csv"

    response = post_fmu(creator_client, package.slug, ball.fmu_path, reference_csv=bad)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_test_vector"
    assert stored_files(artifacts_dir) == []
    assert not PackageVersion.objects.exists()


def test_upload_over_the_size_cap_is_refused_while_streaming(
    creator_client, package, ball, artifacts_dir, settings
):
    settings.UPLOAD_MAX_BYTES = 4096

    response = post_fmu(creator_client, package.slug, ball.fmu_path)

    assert response.status_code == 413
    assert response.json()["code"] == "upload_too_large"
    assert stored_files(artifacts_dir) == []


def text_file(path):
    path.write_bytes(b"just text")
    return path


def _hostile(tmp_path):
    def non_elf(path):
        return fmu_builders.valid_fmu(path, b"#!/bin/sh\necho not a library\n")

    return {
        "unsafe_path": lambda p: fmu_builders.zip_slip_fmu(p),
        "symlink_entry": lambda p: fmu_builders.symlink_fmu(p),
        "zip_bomb": lambda p: fmu_builders.declared_size_bomb_fmu(p),
        "too_many_entries": lambda p: fmu_builders.many_entries_fmu(p),
        "xml_entities_forbidden": lambda p: fmu_builders.write_fmu(
            p, {}, model_description=fmu_builders.xxe_model_description(tmp_path / "secret")
        ),
        "invalid_elf": non_elf,
        "not_a_zip": text_file,
    }


@pytest.mark.parametrize(
    "code",
    [
        "unsafe_path",
        "symlink_entry",
        "zip_bomb",
        "too_many_entries",
        "xml_entities_forbidden",
        "invalid_elf",
        "not_a_zip",
    ],
)
def test_hostile_archive_is_rejected_with_its_code_and_nothing_stored(
    code, creator_client, package, tmp_path, artifacts_dir
):
    (tmp_path / "secret").write_text("TOP-SECRET-VALUE")
    path = _hostile(tmp_path)[code](tmp_path / "hostile.fmu")

    response = post_fmu(creator_client, package.slug, path)

    assert response.status_code == 422, response.json()
    assert response.json()["code"] == code
    assert "TOP-SECRET-VALUE" not in response.content.decode()
    assert stored_files(artifacts_dir) == []
    assert not PackageVersion.objects.exists()


def test_billion_laughs_is_rejected(creator_client, package, tmp_path, artifacts_dir):
    path = fmu_builders.write_fmu(
        tmp_path / "laughs.fmu",
        {},
        model_description=fmu_builders.billion_laughs_model_description(),
    )

    response = post_fmu(creator_client, package.slug, path)

    assert response.json()["code"] == "xml_entities_forbidden"
    assert stored_files(artifacts_dir) == []


def test_multipart_without_file_is_a_field_error(creator_client, package):
    response = creator_client.post(
        f"/api/v1/packages/{package.slug}/versions", {"version": "1.0.0"}, format="multipart"
    )

    assert response.status_code == 400
    assert response.json()["fields"]["file"][0]["code"] == "required"


GOOD_SHARED = [
    ("Dymola/2020/0004_Atmos/0004_Atmos.fmu", "2.0"),
    ("FMUSDK-via-PyFMI/ME1.0/bouncingBall/bouncingBall.fmu", "1.0"),
    ("AltairActivate/unknown/sinewave_array/sinewave_array.fmu", "3.0"),
    ("OpenModelica/1.18/0001_addP/0001_addP.fmu", "2.0"),
]


@pytest.mark.parametrize(("relative", "fmi_version"), GOOD_SHARED)
def test_third_party_fmus_upload_with_a_model_card(
    relative, fmi_version, creator_client, package, artifacts_dir
):
    path = require_shared_fmus() / relative

    response = post_fmu(creator_client, package.slug, path)

    assert response.status_code == 201, response.json()
    assert response.json()["fmi_version"] == fmi_version
    assert PackageVersion.objects.get().variables.exists()


@pytest.mark.parametrize(
    ("relative", "code"),
    [
        ("negative/empty_file/illegal.fmu", "not_a_zip"),
        ("negative/xml_only/pump_mocked.fmu", "missing_binary"),
        ("negative/win_only/bouncingBall_FMUSDK_cs.fmu", "no_linux_binary"),
        ("negative/malformed/MalFormed.fmu", "invalid_model_description"),
    ],
)
def test_negative_third_party_fmus_are_rejected(
    relative, code, creator_client, package, artifacts_dir
):
    path = require_shared_fmus() / relative

    response = post_fmu(creator_client, package.slug, path)

    assert response.status_code == 422
    assert response.json()["code"] == code
    assert stored_files(artifacts_dir) == []


def test_fmu_inside_zip_layout_is_checked_not_trusted(
    creator_client, package, tmp_path, artifacts_dir
):
    path = tmp_path / "empty.fmu"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "no model description")

    response = post_fmu(creator_client, package.slug, path)

    assert response.json()["code"] == "missing_model_description"
