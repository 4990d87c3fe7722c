"""Packages through the API: creation, editing, review, and who sees what."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from fmugateway.core.models import AuditEntry
from registry import services
from registry.factories import PackageFactory, PackageVersionFactory
from registry.models import Package, PackageVersion
from registry.tests.fixtures import upload_sample

pytestmark = pytest.mark.django_db


def test_creator_creates_a_draft_package_with_a_generated_slug(creator_client, creator):
    response = creator_client.post(
        "/api/v1/packages",
        {
            "name": "Heat Exchanger",
            "summary": "Counter-flow",
            "tags": ["Thermal", "thermal ", "HVAC"],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "heat-exchanger"
    assert body["status"] == "draft"
    assert body["tags"] == ["hvac", "thermal"]
    assert Package.objects.get(slug="heat-exchanger").owner == creator
    assert AuditEntry.objects.filter(action="registry.package.created").count() == 1


def test_anonymous_cannot_create(api_client):
    response = api_client.post("/api/v1/packages", {"name": "X"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_slug_conflict_has_a_code(creator_client, package):
    response = creator_client.post(
        "/api/v1/packages", {"name": "Other", "slug": package.slug}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["fields"]["slug"][0]["code"] == "unique"


def test_draft_package_is_invisible_to_other_users_and_anonymous(package, other_user):
    other = APIClient()
    other.force_authenticate(other_user)

    assert other.get(f"/api/v1/packages/{package.slug}").status_code == 404
    assert APIClient().get(f"/api/v1/packages/{package.slug}").status_code == 404
    assert package.slug not in [p["slug"] for p in other.get("/api/v1/packages").json()["results"]]


def test_owner_and_moderator_see_the_draft(creator_client, package, moderator):
    mod = APIClient()
    mod.force_authenticate(moderator)

    assert creator_client.get(f"/api/v1/packages/{package.slug}").status_code == 200
    assert mod.get(f"/api/v1/packages/{package.slug}").status_code == 200


def test_listed_package_is_public(package, moderator):
    package.status = Package.Status.LISTED
    package.save()

    response = APIClient().get(f"/api/v1/packages/{package.slug}")

    assert response.status_code == 200
    assert response.json()["name"] == package.name


def test_other_user_cannot_edit_a_listed_package(package, other_user):
    package.status = Package.Status.LISTED
    package.save()
    other = APIClient()
    other.force_authenticate(other_user)

    response = other.patch(f"/api/v1/packages/{package.slug}", {"name": "Hijacked"}, format="json")

    assert response.status_code == 403
    package.refresh_from_db()
    assert package.name != "Hijacked"


def test_owner_edits_and_the_change_is_audited(creator_client, package):
    response = creator_client.patch(
        f"/api/v1/packages/{package.slug}", {"summary": "New"}, format="json"
    )

    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="registry.package.updated")
    assert entry.after == {"summary": "New"}


def test_submit_requires_a_version(creator_client, package):
    response = creator_client.post(f"/api/v1/packages/{package.slug}/submit")

    assert response.status_code == 400
    assert response.json()["code"] == "no_versions"


def test_review_cycle_reject_then_approve(package, moderator, creator, sample_fmus):
    from registry.tests.fixtures import upload_sample

    upload_sample(package, sample_fmus[("bouncing_ball", "2.0")])
    services.submit_for_review(package, creator)
    services.reject_package(package, moderator, "Describe the parameters.")
    assert package.status == "rejected"
    assert package.review_note == "Describe the parameters."

    services.submit_for_review(package, creator)
    services.approve_package(package, moderator)

    assert package.status == Package.Status.LISTED
    actions = list(
        AuditEntry.objects.filter(target_id=str(package.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[-4:] == [
        "registry.package.submitted",
        "registry.package.rejected",
        "registry.package.submitted",
        "registry.package.approved",
    ]


def test_creator_cannot_approve_own_package(package, creator):
    package.status = Package.Status.IN_REVIEW
    package.save()

    with pytest.raises(services.ForbiddenError):
        services.approve_package(package, creator)


def test_package_list_query_count_is_bounded(django_assert_max_num_queries, moderator):
    for _ in range(30):
        PackageFactory(status=Package.Status.LISTED)
    client = APIClient()

    with django_assert_max_num_queries(3):
        response = client.get("/api/v1/packages")

    assert response.status_code == 200
    assert response.json()["count"] == 30


def test_the_creator_api_is_the_creators_moderators_moderate_in_the_admin(
    package, moderator, sample_fmus
):
    upload_sample(package, sample_fmus[("bouncing_ball", "2.0")])
    mod = APIClient()
    mod.force_authenticate(moderator)
    base = f"/api/v1/packages/{package.slug}"

    answers = {
        "patch": mod.patch(base, {"name": "Hijacked"}, format="json"),
        "submit": mod.post(f"{base}/submit"),
        "yank": mod.post(f"{base}/versions/1.0.0/yank", {"reason": "x"}, format="json"),
        "deprecate": mod.post(f"{base}/versions/1.0.0/deprecate", {"reason": "x"}),
        "revalidate": mod.post(f"{base}/versions/1.0.0/validation"),
    }

    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 403), {
        name: r.json() for name, r in answers.items()
    }
    assert answers["patch"].json()["code"] == "not_package_owner"
    package.refresh_from_db()
    assert package.name == "Bouncing ball" and package.status == Package.Status.DRAFT
    assert mod.get(base).status_code == 200  # moderators still see drafts


def _version(package, number, created_at):
    row = PackageVersionFactory(package=package, version=number)
    PackageVersion.objects.filter(pk=row.pk).update(created_at=created_at)


def test_package_detail_says_its_latest_version_like_the_list(creator_client, package):
    now = timezone.now()
    _version(package, "1.0.0", now - timedelta(days=2))
    _version(package, "1.1.0", now - timedelta(days=1))

    detail = creator_client.get(f"/api/v1/packages/{package.slug}").json()
    listed = creator_client.get("/api/v1/packages?mine=1").json()["results"]

    assert detail["latest_version"] == "1.1.0"
    assert [p["latest_version"] for p in listed if p["slug"] == package.slug] == ["1.1.0"]


def test_package_without_versions_has_no_latest_version(creator_client, package):
    assert creator_client.get(f"/api/v1/packages/{package.slug}").json()["latest_version"] is None
