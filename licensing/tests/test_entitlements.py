"""What execution calls: run_entitlement, consume_run, refund_run; and the download rule."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fmugateway.core.models import AuditEntry
from licensing import entitlements
from licensing.entitlements import EntitlementInactive, RunQuotaExhausted
from licensing.models import License
from licensing.services.licenses import revoke_license, suspend_license
from marketplace.tests.fixtures import issue

pytestmark = pytest.mark.django_db


def test_no_license_no_entitlement(user, version):
    assert entitlements.run_entitlement(user, version) is None
    assert not entitlements.grants_run(user, version)


def test_execute_only_license_is_a_run_entitlement_with_its_quota(user, execute_listing, version):
    license = issue(user, execute_listing).license

    entitlement = entitlements.run_entitlement(user, version)

    assert entitlement.license_id == license.pk
    assert entitlement.runs_remaining == 100
    assert entitlement.kind == "execute_only"


def test_unlimited_licenses_are_used_before_quotas(
    user, execute_listing, download_listing, version
):
    issue(user, execute_listing)
    download = issue(user, download_listing).license

    assert entitlements.run_entitlement(user, version).license_id == download.pk


def test_consume_is_idempotent_per_job_and_audited(user, execute_listing):
    license = issue(user, execute_listing).license

    first = entitlements.consume_run(license, "job-1")
    again = entitlements.consume_run(license, "job-1")

    assert first.runs_remaining == again.runs_remaining == 99
    assert AuditEntry.objects.filter(action="marketplace.license.run_consumed").count() == 1


def test_exhausted_quota_is_a_402(user, execute_listing, version):
    license = issue(user, execute_listing).license
    License.objects.filter(pk=license.pk).update(runs_remaining=1)
    entitlements.consume_run(license, "job-1")

    with pytest.raises(RunQuotaExhausted) as error:
        entitlements.consume_run(license, "job-2")

    assert error.value.status_code == 402
    assert error.value.code == "run_quota_exhausted"
    assert entitlements.run_entitlement(user, version) is None


def test_refund_gives_the_run_back_once(user, execute_listing):
    license = issue(user, execute_listing).license
    entitlement = entitlements.consume_run(license, "job-1")

    entitlements.refund_run(entitlement, "job-1")
    after = entitlements.refund_run(entitlement, "job-1")

    assert after.runs_remaining == 100
    assert entitlements.consume_run(license, "job-1").runs_remaining == 99  # a retried job


def test_revoked_or_expired_license_grants_no_runs(user, execute_listing, version):
    revoked = issue(user, execute_listing).license
    expired = issue(user, execute_listing).license
    revoke_license(revoked, reason="test")
    License.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))

    assert entitlements.run_entitlement(user, version) is None
    with pytest.raises(EntitlementInactive):
        entitlements.consume_run(revoked, "job-1")


def test_other_users_licenses_grant_nothing(user, other_user, execute_listing, version):
    issue(other_user, execute_listing)

    assert entitlements.run_entitlement(user, version) is None


def test_download_rule_grants_download_licenses_only(
    user, other_user, download_listing, execute_listing, version
):
    from registry.access import may_download

    issue(user, download_listing)
    issue(other_user, execute_listing)

    assert may_download(user, version)
    assert not may_download(other_user, version)


def test_download_rule_stops_with_the_license(user, download_listing, version):
    from registry.access import may_download

    license = issue(user, download_listing).license
    suspend_license(license, reason="test")

    assert not may_download(user, version)
