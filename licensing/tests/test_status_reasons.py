"""A license's status reason reads as words on its page, not as a code."""

from __future__ import annotations

import pytest

from licensing.models import License
from licensing.status_reasons import describe
from marketplace.tests.fixtures import issue


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("", ""),
        (
            "dmca_takedown",
            "suspended while a copyright (DMCA) complaint about this model is handled",
        ),
        (
            "dmca_restored",
            "restored after a copyright (DMCA) complaint about this model was resolved",
        ),
        ("renewed", "renewed by your subscription's latest payment"),
        ("refund: requested_by_customer", "refunded (at your request)"),
        ("refund: ", "refunded"),
        ("chargeback: dispute lost (fraudulent)", "the payment was charged back (dispute lost"),
        ("some_new_code", "some new code"),
        ("suspended by an administrator", "suspended by an administrator"),
        ("renewal of license 12", "renewal of license 12"),
    ],
)
def test_reasons_are_said_in_words(stored, shown):
    assert describe(stored).startswith(shown)
    assert "_" not in describe(stored)


@pytest.mark.django_db
def test_license_page_says_why_it_was_restored(client, user, free_listing):
    license = issue(user, free_listing).license
    License.objects.filter(pk=license.pk).update(status_reason="dmca_restored")
    client.force_login(user)

    page = client.get(f"/account/licenses/{license.pk}/").content.decode()

    assert "dmca_restored" not in page
    assert (
        "Active</span> — restored after a copyright (DMCA) complaint about this model was resolved"
        in page
    )
