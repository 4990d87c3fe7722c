"""Licenses that are over: verification says EXPIRED at once, the beat task marks them so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fmugateway.core.models import AuditEntry
from licensing import entitlements
from licensing.models import License
from licensing.services.licenses import (
    expire_licenses,
    revoke_license,
    suspend_license,
    verify_license,
)
from marketplace.factories import ListingFactory
from marketplace.tasks import expire_licenses as expire_licenses_task
from marketplace.tests.fixtures import issue

pytestmark = pytest.mark.django_db


def _code(key: str) -> str:
    return verify_license(key, "ball", "machine-1", activate=True)["payload"]["code"]


def _past(license: License, **delta) -> None:
    License.objects.filter(pk=license.pk).update(
        expires_at=timezone.now() - timedelta(**(delta or {"minutes": 1}))
    )


def test_a_license_past_its_validity_verifies_expired_and_the_sweep_marks_it(
    user, other_user, package
):
    # Given two year-long licenses, one of which has run out (time-shifted)
    listing = ListingFactory(package=package, validity_days=365)
    over, current = issue(user, listing), issue(other_user, listing)
    assert _code(over.key) == "VALID"
    _past(over.license)

    # Then verification answers EXPIRED before any sweep
    assert _code(over.key) == "EXPIRED"

    # When the beat task runs
    assert expire_licenses_task() == 1

    # Then only that license is expired, with one audit entry; a second run changes nothing
    over.license.refresh_from_db()
    assert (over.license.status, over.license.status_reason) == ("expired", "validity ended")
    assert License.objects.get(pk=current.license.pk).status == "active"
    entries = AuditEntry.objects.filter(action="marketplace.license.expired")
    assert [entry.after["status"] for entry in entries] == ["expired"]
    assert expire_licenses() == []
    assert entries.count() == 1
    assert _code(over.key) == "EXPIRED"
    assert _code(current.key) == "VALID"


def test_a_trial_by_days_expires_when_its_days_are_over(user, package):
    trial = ListingFactory(
        package=package, pricing_model="trial", price_amount=0, trial_days=14, validity_days=None
    )
    issued = issue(user, trial)
    assert issued.license.expires_at - issued.license.starts_at == timedelta(days=14)

    _past(issued.license)

    assert expire_licenses() == [issued.license.pk]
    assert _code(issued.key) == "EXPIRED"


def test_a_trial_by_runs_is_over_with_its_last_run(user, package):
    # Given a download trial of two runs
    trial = ListingFactory(package=package, pricing_model="trial", price_amount=0, trial_runs=2)
    issued = issue(user, trial)
    entitlements.consume_run(issued.license, job_reference="job-1")
    assert _code(issued.key) == "VALID"

    # When the last run is taken
    entitlements.consume_run(issued.license, job_reference="job-2")

    # Then it verifies EXPIRED (it answered VALID before: it still had its download right)
    assert _code(issued.key) == "EXPIRED"
    assert not License.objects.usable().filter(pk=issued.license.pk).exists()

    # And the sweep marks it expired, saying why
    assert expire_licenses() == [issued.license.pk]
    issued.license.refresh_from_db()
    assert (issued.license.status, issued.license.status_reason) == (
        "expired",
        "trial runs used up",
    )

    # When the platform fails that last job, the run comes back and so does the trial
    entitlements.refund_run(issued.license, job_reference="job-2")
    issued.license.refresh_from_db()
    assert (issued.license.status, issued.license.runs_remaining) == ("active", 1)
    assert _code(issued.key) == "VALID"


def test_revoked_and_suspended_licenses_are_not_swept(user, other_user, package):
    listing = ListingFactory(package=package, validity_days=30)
    revoked, suspended = issue(user, listing).license, issue(other_user, listing).license
    revoke_license(revoked, reason="test")
    suspend_license(suspended, reason="test")
    _past(revoked)
    _past(suspended)

    assert expire_licenses() == []
    assert set(License.objects.values_list("status", flat=True)) == {"revoked", "suspended"}
