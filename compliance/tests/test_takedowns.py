"""DMCA takedowns: complaint → moderator → package down (downloads, runs, licenses) → counter-
notice → restored or removed; each step audited, each party sees only what is theirs."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse

from compliance.models import TakedownComplaint
from compliance.services import takedowns
from execution.tests.fixtures import make_version, publish, sample_fmus, storage_dirs
from fmugateway.core.errors import ConflictError, ForbiddenError
from fmugateway.core.models import AuditEntry
from fmugateway.core.signing import verify_document
from licensing.models import License
from licensing.services.licenses import suspend_license
from marketplace.factories import CreatorFactory, ListingFactory
from marketplace.tests.fixtures import client_for, issue
from registry import services as registry_services
from registry.models import Package

pytestmark = pytest.mark.django_db
FIXTURES = (sample_fmus, storage_dirs)

COMPLAINTS = "/api/v1/dmca/complaints"
JOBS = "/api/v1/jobs"
COMPLAINT = {
    "package": "",
    "complainant_name": "Ada Owner",
    "complainant_email": "ada@rights.example",
    "work_description": "The Modelica library 'Pumps' v3, (c) Ada Owner 2024.",
    "infringement_details": "The FMU embeds the library's pump model unchanged.",
    "good_faith": True,
    "accurate": True,
    "signature": "Ada Owner",
}
COUNTER = {
    "full_name": "Carl Creator",
    "contact_email": "carl@example.com",
    "address": "1 Model Street, Springfield",
    "statement": "The pump model is my own work; see my commit history.",
    "good_faith": "true",
    "consent_to_jurisdiction": "true",
    "signature": "Carl Creator",
}


@pytest.fixture
def version(sample_fmus, storage_dirs):
    creator = CreatorFactory()
    version = make_version(creator.user, sample_fmus[("mass_spring_damper", "2.0")].fmu_path)
    return publish(version, free=False)


@pytest.fixture
def package(version):
    return version.package


@pytest.fixture
def licensed(user, package):
    """A buyer's download license (downloads and runs) and its key."""
    return issue(user, ListingFactory(package=package, free=True))


@pytest.fixture
def complaint(package):
    return takedowns.submit_complaint({**COMPLAINT, "package": package.slug})


def download_url(package):
    return f"/api/v1/packages/{package.slug}/versions/1.0.0/download-url"


def verify(key, package) -> str:
    response = client_for(None).post(
        "/api/v1/licenses/verify",
        {"key": key, "package": package.slug, "fingerprint": "machine-1", "activate": True},
        format="json",
    )
    return verify_document(response.json())["code"]


def start_job(user, version):
    return client_for(user).post(JOBS, {"version_id": version.pk, "stop_time": 0.5}, format="json")


def test_anyone_files_a_complaint_through_the_api_or_the_public_form(api_client, client, package):
    response = api_client.post(COMPLAINTS, {**COMPLAINT, "package": package.slug}, format="json")

    assert response.status_code == 201, response.json()
    assert (response.json()["status"], response.json()["package"]) == ("submitted", package.slug)
    page = client.post(reverse("dmca-complaint"), {**COMPLAINT, "package": package.slug})
    assert page.status_code == 200 and b"Notice received" in page.content
    assert TakedownComplaint.objects.filter(package=package).count() == 2
    assert AuditEntry.objects.filter(action="marketplace.takedown.submitted").count() == 2
    # Nothing happens to the package until a moderator decides
    assert Package.objects.get(pk=package.pk).status == "listed"


def test_an_incomplete_complaint_names_every_problem(api_client, client, package):
    response = api_client.post(
        COMPLAINTS,
        {**COMPLAINT, "package": "no-such-package", "accurate": False, "signature": ""},
        format="json",
    )
    garbage = api_client.post(COMPLAINTS, ["not", "an", "object"], format="json")
    page = client.post(reverse("dmca-complaint"), {"package": package.slug})

    body = response.json()
    assert (response.status_code, body["code"]) == (400, "invalid")
    assert set(body["fields"]) == {"package", "accurate", "signature"}
    assert body["fields"]["package"][0]["code"] == "not_found"
    assert (garbage.status_code, garbage.json()["code"]) == (400, "invalid")
    assert page.status_code == 400 and b"This statement must be affirmed." in page.content
    assert not TakedownComplaint.objects.exists()


def test_taking_down_blocks_downloads_and_runs_and_suspends_licenses(
    user, moderator, package, version, licensed, complaint, django_capture_on_commit_callbacks
):
    assert client_for(user).post(download_url(package)).status_code == 201
    assert verify(licensed.key, package) == "VALID"

    with django_capture_on_commit_callbacks(execute=True):
        takedowns.take_down(complaint, moderator, "The complainant showed the original.")

    # The package is unlisted; buyers get a stable code for downloads and runs
    assert Package.objects.get(pk=package.pk).status == "unlisted"
    download = client_for(user).post(download_url(package))
    run = start_job(user, version)
    assert (download.status_code, download.json()["code"]) == (451, "package_taken_down")
    assert (run.status_code, run.json()["code"]) == (451, "package_taken_down")
    # ...their license answers SUSPENDED
    assert verify(licensed.key, package) == "SUSPENDED"
    # ...while the owner and moderators keep access to review it
    assert client_for(package.owner).post(download_url(package)).status_code == 201
    assert client_for(moderator).post(download_url(package)).status_code == 201
    # The creator was told, with the way to answer
    [notice] = mail.outbox
    assert notice.to == [package.owner.email]
    assert "/console/takedowns/" in notice.body and "The complainant showed" in notice.body
    assert client_for(None).get(f"/packages/{package.slug}/").status_code == 404


def test_counter_notice_then_restore_brings_the_package_and_licenses_back(
    client, user, moderator, package, version, licensed, complaint,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        takedowns.take_down(complaint, moderator)
    mail.outbox.clear()

    # The creator files a counter-notice from the console
    client.force_login(package.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("console-takedowns"), {**COUNTER, "complaint": complaint.pk})
    assert response.status_code == 302
    complaint.refresh_from_db()
    assert complaint.status == "counter_notice"
    [forwarded] = mail.outbox
    assert forwarded.to == ["ada@rights.example"] and "1 Model Street" in forwarded.body
    assert start_job(user, version).json()["code"] == "package_taken_down"  # still down

    # A moderator restores it
    with django_capture_on_commit_callbacks(execute=True):
        takedowns.restore_package(complaint, moderator, "Counter-notice not contested.")

    assert Package.objects.get(pk=package.pk).status == "listed"
    assert verify(licensed.key, package) == "VALID"
    assert client_for(user).post(download_url(package)).status_code == 201
    assert start_job(user, version).status_code == 201
    assert mail.outbox[-1].to == [package.owner.email]
    steps = list(
        AuditEntry.objects.filter(
            target_type="compliance.takedowncomplaint", target_id=str(complaint.pk)
        )
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert steps == [
        "marketplace.takedown.submitted",
        "marketplace.takedown.taken_down",
        "marketplace.takedown.counter_notice",
        "marketplace.takedown.restored",
    ]


def test_removal_keeps_the_package_down_and_its_licenses_suspended(
    user, moderator, package, licensed, complaint
):
    takedowns.take_down(complaint, moderator)

    takedowns.remove_package(complaint, moderator, "Court order.")

    assert Package.objects.get(pk=package.pk).status == "unlisted"
    assert verify(licensed.key, package) == "SUSPENDED"
    assert client_for(user).post(download_url(package)).json()["code"] == "package_taken_down"
    with pytest.raises(ConflictError):
        takedowns.restore_package(complaint, moderator)


def test_restoring_reinstates_only_the_licenses_the_takedown_suspended(
    user, other_user, moderator, package, licensed, complaint
):
    listing = ListingFactory(package=package, free=True, name="Other")
    other = License.objects.get(pk=issue(other_user, listing).license.pk)
    suspend_license(other, actor=moderator, reason="abuse")
    takedowns.take_down(complaint, moderator)

    takedowns.restore_package(complaint, moderator)

    assert License.objects.get(pk=licensed.license.pk).status == "active"
    assert License.objects.get(pk=other.pk).status == "suspended"


def test_a_second_complaint_keeps_the_package_down_until_both_are_resolved(
    user, moderator, package, licensed, complaint
):
    second = takedowns.submit_complaint({**COMPLAINT, "package": package.slug})
    takedowns.take_down(complaint, moderator)
    takedowns.take_down(second, moderator)

    takedowns.restore_package(complaint, moderator)
    assert Package.objects.get(pk=package.pk).status == "unlisted"
    assert verify(licensed.key, package) == "SUSPENDED"

    takedowns.restore_package(second, moderator)
    assert Package.objects.get(pk=package.pk).status == "listed"
    assert verify(licensed.key, package) == "VALID"


def test_a_package_that_is_down_cannot_be_resubmitted_or_approved_around_it(
    moderator, package, complaint
):
    takedowns.take_down(complaint, moderator)

    response = client_for(package.owner).post(f"/api/v1/packages/{package.slug}/submit")
    assert response.status_code == 409
    assert response.json()["code"] == "package_taken_down"
    Package.objects.filter(pk=package.pk).update(status=Package.Status.IN_REVIEW)
    with pytest.raises(ConflictError) as refused:
        registry_services.approve_package(Package.objects.get(pk=package.pk), moderator)
    assert refused.value.code == "package_taken_down"

    takedowns.restore_package(complaint, moderator)
    assert Package.objects.get(pk=package.pk).status == "listed"


def test_counter_notice_is_only_for_a_package_that_is_down(moderator, package, complaint):
    owner = client_for(package.owner)
    url = f"{COMPLAINTS}/{complaint.pk}/counter-notice"

    early = owner.post(url, COUNTER, format="json")
    takedowns.take_down(complaint, moderator)
    missing = owner.post(url, {**COUNTER, "consent_to_jurisdiction": False}, format="json")
    filed = owner.post(url, COUNTER, format="json")
    again = owner.post(url, COUNTER, format="json")

    # Before a moderator acts the complaint is hidden from the creator: 404, as its GET
    assert early.status_code == 404
    assert (missing.status_code, list(missing.json()["fields"])) == (
        400,
        ["consent_to_jurisdiction"],
    )
    assert (filed.status_code, filed.json()["status"]) == (201, "counter_notice")
    assert filed.json()["counter_notice"]["full_name"] == "Carl Creator"
    assert (again.status_code, again.json()["code"]) == (409, "takedown_invalid_status")


def test_other_users_never_see_or_answer_a_complaint(
    client, user, other_user, moderator, package, complaint
):
    detail = f"{COMPLAINTS}/{complaint.pk}"
    # Before a moderator acts, the creator does not see it either
    assert client_for(package.owner).get(detail).status_code == 404
    takedowns.take_down(complaint, moderator)
    stranger = CreatorFactory().user

    assert client_for(package.owner).get(detail).status_code == 200
    assert client_for(moderator).get(detail).status_code == 200
    assert client_for(stranger).get(detail).status_code == 404
    assert client_for(stranger).get(COMPLAINTS).json()["results"] == []
    answer = client_for(stranger).post(f"{detail}/counter-notice", COUNTER, format="json")
    assert answer.status_code == 404
    client.force_login(stranger)
    assert b"Ada Owner" not in client.get(reverse("console-takedowns")).content
    page = client.post(reverse("console-takedowns"), {**COUNTER, "complaint": complaint.pk})
    assert page.status_code == 404
    assert TakedownComplaint.objects.get(pk=complaint.pk).status == "taken_down"
    assert client_for(None).get(COMPLAINTS).status_code in (401, 403)


def test_the_signed_in_complainant_sees_their_own_complaint(user, other_user, package):
    filed = client_for(user).post(COMPLAINTS, {**COMPLAINT, "package": package.slug})

    mine = client_for(user).get(f"{COMPLAINTS}/{filed.json()['id']}")
    theirs = client_for(other_user).get(f"{COMPLAINTS}/{filed.json()['id']}")

    assert mine.status_code == 200 and theirs.status_code == 404


def test_only_moderators_decide_and_a_rejection_needs_a_reason(moderator, package, complaint):
    for verb in (takedowns.take_down, takedowns.reject_complaint):
        with pytest.raises(ForbiddenError):
            verb(complaint, package.owner, "no")

    takedowns.reject_complaint(complaint, moderator, "Not a copyright claim.")

    assert TakedownComplaint.objects.get(pk=complaint.pk).status == "rejected"
    assert Package.objects.get(pk=package.pk).status == "listed"
    with pytest.raises(ConflictError):
        takedowns.take_down(complaint, moderator)


def test_moderators_take_down_from_the_admin(client, moderator, package, complaint):
    moderator.is_staff = True
    moderator.save()
    moderator.user_permissions.add(
        *Permission.objects.filter(codename__endswith="takedowncomplaint")
    )
    client.force_login(moderator)
    url = reverse("admin:compliance_takedowncomplaint_changelist")
    assert client.get(url).status_code == 200
    assert client.get(f"{url}{complaint.pk}/change/").status_code == 200

    response = client.post(url, {"action": "take_down", "_selected_action": [complaint.pk]})

    assert response.status_code == 302
    assert TakedownComplaint.objects.get(pk=complaint.pk).status == "taken_down"
    assert Package.objects.get(pk=package.pk).status == "unlisted"


def test_complaint_admin_list_has_bounded_queries(
    client, django_user_model, moderator, package, django_assert_max_num_queries
):
    for _ in range(5):
        complaint = takedowns.submit_complaint({**COMPLAINT, "package": package.slug})
    takedowns.take_down(complaint, moderator)
    client.force_login(django_user_model.objects.create_superuser("root@example.com", "pw"))

    with django_assert_max_num_queries(12):
        response = client.get(reverse("admin:compliance_takedowncomplaint_changelist"))

    assert response.status_code == 200 and b"Ada Owner" in response.content


def test_the_audit_log_names_the_complaint_and_package_in_words(
    client, django_user_model, moderator, package, complaint
):
    # Given a complaint a moderator acted on
    takedowns.take_down(complaint, moderator)
    client.force_login(django_user_model.objects.create_superuser("root@example.com", "pw"))

    # when the audit log is read in the admin
    response = client.get(reverse("admin:core_auditentry_changelist"))

    # then its entries say what they are about, not "DMCA #1 on 4"
    html = response.content.decode()
    assert f"DMCA complaint #{complaint.pk} against package {package.name}" in html
    assert f"DMCA #{complaint.pk} on" not in html
    assert "compliance.takedowncomplaint" not in html.split('id="changelist-filter"')[0]


def test_a_license_holder_is_told_why_a_taken_down_package_is_gone(
    client, user, other_user, moderator, package, licensed, complaint
):
    # Given a package taken down while the user holds a license for it
    takedowns.take_down(complaint, moderator)
    complaint.refresh_from_db()
    url = f"/packages/{package.slug}/"

    # when they open its page
    client.force_login(user)
    response = client.get(url)

    # then they read what happened, when, and what they can do: 451, a page of the site
    html = response.content.decode()
    assert response.status_code == 451
    assert f"{package.name} is unavailable" in html
    assert f"taken down on <strong>{complaint.reviewed_at:%-d %B %Y}</strong>" in html
    assert "DMCA" in html and "counter-notice" in html
    assert "support@localhost" in html and reverse("account-orders") in html
    assert "site-footer" in html  # the site's layout, not a bare error page
    # ...the same on a version's page
    assert client.get(f"{url}versions/1.0.0/").status_code == 451
    # while someone without a license, or signed out, still finds nothing there
    client.force_login(other_user)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 404


def test_after_removal_the_holder_reads_that_it_is_gone_for_good(
    client, user, moderator, package, licensed, complaint
):
    takedowns.take_down(complaint, moderator)
    takedowns.remove_package(complaint, moderator, "No counter-notice.")

    client.force_login(user)
    response = client.get(f"/packages/{package.slug}/")

    assert response.status_code == 451
    assert "removed for good" in response.content.decode()


def test_a_restored_package_shows_its_page_to_the_holder_again(
    client, user, moderator, package, licensed, complaint
):
    takedowns.take_down(complaint, moderator)
    takedowns.restore_package(complaint, moderator, "Mistaken complaint.")

    client.force_login(user)
    assert client.get(f"/packages/{package.slug}/").status_code == 200


def test_a_package_page_that_is_not_there_is_a_page_of_the_site(client, moderator, complaint):
    takedowns.take_down(complaint, moderator)

    response = client.get(f"/packages/{complaint.package.slug}/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html and "site-footer" in html and 'href="/catalog/"' in html
