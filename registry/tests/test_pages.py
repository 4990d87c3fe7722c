"""Storefront and console pages: what each user sees."""

import pytest

from registry.factories import PackageFactory
from registry.models import Package, PackageVersion
from registry.tests.fixtures import upload_sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def listed(package, ball, artifacts_dir):
    version = upload_sample(package, ball)
    PackageVersion.objects.filter(pk=version.pk).update(validation_status="passed")
    Package.objects.filter(pk=package.pk).update(status=Package.Status.LISTED)
    package.refresh_from_db()
    return package


def test_home_lists_listed_packages_only(client, listed, creator):
    PackageFactory(owner=creator, name="Secret draft", slug="secret-draft")

    html = client.get("/").content.decode()

    assert listed.name in html
    assert "Secret draft" not in html


def test_package_page_shows_the_model_card_and_variables(client, listed):
    html = client.get(listed.get_absolute_url()).content.decode()

    assert "Model card" in html
    assert "<code>h</code>" in html
    assert "Height of the ball" in html
    assert "Validated" in html


def test_variable_search_filters_the_table(client, listed):
    html = client.get(listed.get_absolute_url() + "?q=restitution").content.decode()

    assert "<code>e</code>" in html
    assert "<code>h</code>" not in html


def test_markdown_description_is_sanitised(client, listed):
    Package.objects.filter(pk=listed.pk).update(
        description="**bold** <script>alert(1)</script> [x](javascript:alert(2))"
    )

    html = client.get(listed.get_absolute_url()).content.decode()

    assert "<strong>bold</strong>" in html
    assert "<script>alert(1)" not in html
    assert "javascript:alert" not in html


def test_other_users_draft_package_page_is_404(client, package, other_user):
    client.force_login(other_user)

    assert client.get(package.get_absolute_url()).status_code == 404
    assert client.get(f"/console/packages/{package.slug}/").status_code == 404


def test_console_requires_login(client):
    response = client.get("/console/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_creator_uploads_through_the_console(client, creator, package, ball, artifacts_dir):
    client.force_login(creator)

    with open(ball.fmu_path, "rb") as fmu, open(ball.reference_csv, "rb") as reference:
        response = client.post(
            f"/console/packages/{package.slug}/",
            {
                "action": "upload",
                "file": fmu,
                "version": "1.2.3",
                "changelog": "c",
                "reference_csv": reference,
                "rtol": "0.001",
                "atol": "0.001",
            },
        )

    assert response.status_code == 302
    version = package.versions.get()
    assert version.version == "1.2.3"
    assert version.test_vectors.count() == 1
    page = client.get(f"/console/packages/{package.slug}/").content.decode()
    assert "1.2.3" in page


def test_console_shows_inspection_errors(client, creator, package, tmp_path, artifacts_dir):
    client.force_login(creator)
    bad = tmp_path / "bad.fmu"
    bad.write_bytes(b"not a zip")

    with open(bad, "rb") as handle:
        response = client.post(
            f"/console/packages/{package.slug}/",
            {"action": "upload", "file": handle, "version": "1.0.0"},
            follow=True,
        )

    assert "not a ZIP archive" in response.content.decode()
    assert not package.versions.exists()


def test_home_query_count_is_bounded(client, django_assert_max_num_queries, creator):
    for index in range(25):
        PackageFactory(status=Package.Status.LISTED, slug=f"p-{index}")

    with django_assert_max_num_queries(6):
        response = client.get("/")

    assert response.status_code == 200


def test_validation_report_page(client, listed):
    version = listed.versions.get()
    from registry.validation import run_validation

    run_validation(version.validation_runs.get().pk)

    html = client.get(f"/packages/{listed.slug}/versions/1.0.0/report/").content.decode()

    assert "Validation report" in html
    assert "Smoke simulation" in html
    assert "passed" in html
