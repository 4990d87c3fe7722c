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
        # Its incomplete ModelStructure/Outputs is only a warning (fmpy runs through it);
        # it has Windows binaries only.
        ("negative/malformed/MalFormed.fmu", "no_linux_binary"),
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


def rezip(source, destination, *, extra=(), description=None):
    """A copy of the FMU ``source`` with its description changed and ``extra`` entries
    (name, bytes) appended (duplicates allowed)."""
    import warnings

    with zipfile.ZipFile(source) as original, zipfile.ZipFile(destination, "w") as copy:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == "modelDescription.xml" and description is not None:
                data = description(data.decode()).encode()
            copy.writestr(info, data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Duplicate name"
            for name, data in extra:
                copy.writestr(name, data)
    return destination


def post_raw(client, slug, data: bytes, version="1.0.0"):
    return client.post(
        f"/api/v1/packages/{slug}/versions?version={version}",
        data=data,
        content_type="application/octet-stream",
    )


def test_empty_raw_upload_is_not_a_zip_as_with_multipart(
    creator_client, package, tmp_path, artifacts_dir
):
    empty = tmp_path / "empty.fmu"
    empty.write_bytes(b"")

    raw = post_raw(creator_client, package.slug, b"")
    multipart = post_fmu(creator_client, package.slug, empty)

    assert (raw.status_code, raw.json()["code"]) == (422, "not_a_zip")
    assert (multipart.status_code, multipart.json()["code"]) == (422, "not_a_zip")
    assert stored_files(artifacts_dir) == []


def test_an_fmi_version_longer_than_the_column_is_unsupported_not_a_crash(
    creator_client, package, ball, tmp_path, artifacts_dir
):
    path = rezip(
        ball.fmu_path,
        tmp_path / "beta.fmu",
        description=lambda xml: xml.replace('fmiVersion="2.0"', 'fmiVersion="3.0-beta.3"'),
    )

    response = post_fmu(creator_client, package.slug, path)

    assert response.status_code == 422, response.json()
    assert response.json()["code"] == "unsupported_fmi_version"
    assert "3.0-beta.3" in response.json()["detail"]
    assert not PackageVersion.objects.exists()


def test_total_expanded_size_is_capped_by_the_setting(
    creator_client, package, ball, tmp_path, artifacts_dir, settings
):
    import os

    path = rezip(
        ball.fmu_path,
        tmp_path / "big.fmu",
        extra=[("resources/noise.bin", os.urandom(3 * 1024**2))],
    )
    settings.UPLOAD_MAX_EXPANDED_BYTES = 2 * 1024**2

    refused = post_fmu(creator_client, package.slug, path)
    settings.UPLOAD_MAX_EXPANDED_BYTES = 8 * 1024**2
    accepted = post_fmu(creator_client, package.slug, path)

    assert refused.status_code == 422
    assert refused.json()["code"] == "zip_bomb"
    assert "2097152 bytes" in refused.json()["detail"]
    assert accepted.status_code == 201, accepted.json()


def test_identical_duplicate_entries_upload_with_a_warning_on_the_card(
    creator_client, package, ball, tmp_path, artifacts_dir
):
    with zipfile.ZipFile(ball.fmu_path) as archive:
        library = next(
            n for n in archive.namelist() if n.startswith("binaries/") and n.endswith(".so")
        )
        data = archive.read(library)
    path = rezip(ball.fmu_path, tmp_path / "twice.fmu", extra=[(library, data)])

    response = post_fmu(creator_client, package.slug, path)

    assert response.status_code == 201, response.json()
    warnings = response.json()["inspection"]["warnings"]
    assert any(library in w and "identical content" in w for w in warnings)


def test_duplicate_entries_with_different_content_keep_their_code(
    creator_client, package, ball, tmp_path, artifacts_dir
):
    path = rezip(
        ball.fmu_path,
        tmp_path / "twice.fmu",
        extra=[("resources/a.txt", b"one"), ("resources/a.txt", b"two")],
    )

    response = post_fmu(creator_client, package.slug, path)

    assert response.status_code == 422
    assert response.json()["code"] == "duplicate_entry"


def test_misnamed_binary_uploads_with_the_library_on_the_card(
    creator_client, package, artifacts_dir
):
    path = require_shared_fmus() / "20-sim/unknown/singlewatertank-20sim/singlewatertank-20sim.fmu"

    response = post_fmu(creator_client, package.slug, path)

    assert response.status_code == 201, response.json()
    (interface,) = response.json()["inspection"]["interfaces"]
    assert interface["runnable"] and interface["library_renamed"] and interface["supported"]
    assert interface["library"] == "binaries/linux64/singlewatertank-20sim.so"
    scan = creator_client.get(f"/api/v1/packages/{package.slug}/versions/1.0.0/scan").json()
    mismatch = next(f for f in scan["findings"] if f["code"] == "binary_name_mismatch")
    assert mismatch["severity"] == "low"
