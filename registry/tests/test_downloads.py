"""Signed download links: short-lived, bound to one file and one user, audited."""

import pytest
from django.core import signing
from rest_framework.test import APIClient

from fmugateway.core.models import AuditEntry
from registry.models import Package, PackageVersion
from registry.tests.fixtures import upload_sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(package, ball, artifacts_dir):
    version = upload_sample(package, ball)
    PackageVersion.objects.filter(pk=version.pk).update(validation_status="passed")
    Package.objects.filter(pk=package.pk).update(status=Package.Status.LISTED)
    version.refresh_from_db()
    return version


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def link_for(client, version):
    response = client.post(
        f"/api/v1/packages/{version.package.slug}/versions/{version.version}/download-url"
    )
    assert response.status_code == 201, response.json()
    return response.json()["url"]


def test_owner_downloads_the_exact_file_and_it_is_audited(creator_client, published, ball):
    url = link_for(creator_client, published)

    response = creator_client.get(url)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == ball.fmu_path.read_bytes()
    published.refresh_from_db()
    assert published.download_count == 1
    assert AuditEntry.objects.filter(action="registry.version.downloaded").count() == 1


def test_link_refused_to_another_user(creator_client, published, other_user):
    url = link_for(creator_client, published)

    response = client_for(other_user).get(url)

    assert response.status_code == 403
    assert response.json()["code"] == "download_link_not_yours"


def test_link_expires(creator_client, published, settings):
    url = link_for(creator_client, published)
    settings.SIGNED_URL_TTL_SECONDS = -1

    response = creator_client.get(url)

    assert response.status_code == 410
    assert response.json()["code"] == "download_link_expired"


def test_link_cannot_be_retargeted_by_editing_it(creator_client, published, package, sample_fmus):
    other = upload_sample(package, sample_fmus[("bouncing_ball", "3.0")], version="2.0.0")
    url = link_for(creator_client, published)
    token = url.rstrip("/").rsplit("/", 1)[1]
    value, _, _signature = token.rpartition(":")
    claims = signing.b64_decode(value.split(":")[0].encode())
    assert str(published.pk).encode() in claims
    forged_payload = signing.b64_encode(
        claims.replace(f'"v":{published.pk}'.encode(), f'"v":{other.pk}'.encode())
    ).decode()
    forged = url.replace(value.split(":")[0], forged_payload)

    response = creator_client.get(forged)

    assert response.status_code == 404
    assert response.json()["code"] == "download_link_invalid"


def test_free_listed_package_downloadable_by_any_signed_in_user(published, other_user):
    client = client_for(other_user)

    response = client.get(link_for(client, published))

    assert response.status_code == 200


def test_paid_package_not_downloadable_by_others(published, other_user):
    Package.objects.filter(pk=published.package_id).update(is_free=False)
    client = client_for(other_user)

    response = client.post(
        f"/api/v1/packages/{published.package.slug}/versions/{published.version}/download-url"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "download_forbidden"


def test_unvalidated_version_of_a_listed_package_is_invisible_to_others(
    package, ball, artifacts_dir, other_user
):
    version = upload_sample(package, ball)
    Package.objects.filter(pk=package.pk).update(status=Package.Status.LISTED)
    client = client_for(other_user)
    base = f"/api/v1/packages/{package.slug}/versions/{version.version}"

    assert client.get(base).status_code == 404
    assert client.get(f"{base}/validation").status_code == 404
    assert client.get(f"{base}/scan").status_code == 404
    assert client.post(f"{base}/download-url").status_code == 404
    assert client.get(f"/api/v1/packages/{package.slug}/versions").json()["count"] == 0


def test_anonymous_cannot_get_links(published):
    response = APIClient().post(
        f"/api/v1/packages/{published.package.slug}/versions/{published.version}/download-url"
    )

    assert response.status_code == 401
