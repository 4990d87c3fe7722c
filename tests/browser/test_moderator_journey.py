"""The demo moderator (as ``make setup`` creates it: staff in the Moderators group, not a
superuser) works through the admin: approves a creator and a submitted version, takes a package
down on a DMCA complaint and restores it after the counter-notice, refunds a card-paid order at
the local Stripe server and approves a payout batch (the worker transfers it). What they act on
is made the way its users make it: an application, an upload, a public complaint, a card
payment, beat's payout batch."""

from __future__ import annotations

import pytest

from accounts.factories import UserFactory
from accounts.models import Creator, User
from accounts.services.creators import apply_as_creator
from billing.models import PayoutBatch
from billing.services.payouts import create_payout_batch
from billing.stripe.connect import start_connect_onboarding, sync_connect_account
from billing.tests.stripe_fixtures import wait_for
from compliance.models import TakedownComplaint
from compliance.services import takedowns
from licensing.models import License
from marketplace import payments
from marketplace import services as market
from marketplace.models import Order
from marketplace.services.listings import create_listing
from registry import services as registry
from registry.models import Package
from registry.tests.fixtures import upload_sample
from tests.browser.conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

COMPLAINT = {
    "complainant_name": "Ada Owner",
    "complainant_email": "ada@rights.example",
    "work_description": "The Modelica library 'Oscillators' v2, (c) Ada Owner 2024.",
    "infringement_details": "The FMU embeds the library's model unchanged.",
    "good_faith": True,
    "accurate": True,
    "signature": "Ada Owner",
}
COUNTER = {
    "full_name": "Cleo Creator",
    "contact_email": "creator@fmugateway.local",
    "address": "1 Model Street, Springfield",
    "statement": "The model is my own work; see its history.",
    "good_faith": "true",
    "consent_to_jurisdiction": "true",
    "signature": "Cleo Creator",
}


def run_action(page, model_path: str, pk: int, action: str) -> None:
    """Select one row on a changelist, pick the action, Go, and wait for the success message."""
    page.goto(f"/admin/{model_path}/")
    page.locator(f'input.action-select[value="{pk}"]').check()
    page.locator('select[name="action"]').select_option(label=action)
    page.get_by_role("button", name="Go", exact=True).click()
    page.locator(".messagelist .success").first.wait_for()


@pytest.fixture
def moderation_queue(demo_accounts, stripe_live, sample_fmus, settings):
    """What is waiting for the moderator, made as its users make it."""
    settings.CREATOR_EARNINGS_HOLD_DAYS = 0
    creator = User.objects.get(email=demo_accounts["creator"].email)
    buyer = User.objects.get(email=demo_accounts["buyer"].email)

    # Someone applies to sell.
    applicant = UserFactory(email="new.seller@example.com")
    applied = apply_as_creator(
        applicant,
        display_name="Nova Models",
        slug="nova-models",
        support_email="support@nova.example",
    )

    # The demo creator submits a new package with its first version.
    submitted = registry.create_package(
        creator,
        name="Damped oscillator",
        slug="damped-oscillator",
        summary="A damped oscillator for control courses.",
        license_text="Evaluation only.",
        is_free=True,
    )
    upload_sample(submitted, sample_fmus[("mass_spring_damper", "2.0")], version="2.0.0")
    registry.submit_for_review(submitted, creator)

    # The creator onboards payouts at the local Stripe server and sells a paid license; the
    # buyer pays by card and Stripe's signed webhook marks the order paid.
    account = start_connect_onboarding(creator)["account"]
    sync_connect_account(stripe_live.complete_onboarding(account))
    listed = Package.objects.filter(owner=creator, status=Package.Status.LISTED).order_by("slug")
    sold = listed.first()
    listing = create_listing(
        sold,
        creator,
        name="Commercial license",
        kind="download",
        pricing_model="paid",
        price_amount=4900,
        currency="EUR",
        license_template="Commercial use, one machine.",
    )
    market.add_to_cart(buyer, listing.pk)
    order = market.checkout(buyer).order
    stripe_live.pay(payments.start_payment(order, buyer)["payment_intent"])
    wait_for(lambda: Order.objects.get(pk=order.pk).status == "paid", what="the card payment")

    # Beat gathers the creator's available money into a batch.
    batch = create_payout_batch()
    assert batch is not None

    # Anyone files a copyright complaint against another of the creator's packages.
    complained = listed.exclude(pk=sold.pk).first()
    complaint = takedowns.submit_complaint({**COMPLAINT, "package": complained.slug})
    return {
        "applicant": applied,
        "submitted": submitted,
        "order": order,
        "batch": batch,
        "complaint": complaint,
        "creator": creator,
    }


def test_moderator_approves_takes_down_restores_refunds_and_pays_out(
    celery_worker_process, demo_accounts, moderation_queue, page
):
    moderator = demo_accounts["moderator"]
    queue = moderation_queue
    assert not User.objects.get(email=moderator.email).is_superuser

    page.goto("/admin/")
    page.get_by_label("Email").fill(moderator.email)
    page.get_by_label("Password").fill(moderator.password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Site administration").wait_for()
    caption = page.locator("#content-main .module").first.locator("caption")
    assert caption.text_content().strip() == "Moderation"
    assert page.locator('a[href^="/admin/djstripe/"]').count() == 0  # staff-only, out of sight
    shot(page, "journey-moderator-01-admin-index")

    # A creator application
    run_action(page, "accounts/creator", queue["applicant"].pk, "Approve the selected creators")
    assert Creator.objects.get(pk=queue["applicant"].pk).status == Creator.Status.APPROVED
    shot(page, "journey-moderator-02-creator-approved")

    # A submitted package and its version
    page.goto("/admin/registry/package/?status__exact=in_review")
    page.get_by_role("link", name="Damped oscillator").wait_for()
    run_action(
        page, "registry/package", queue["submitted"].pk, "Approve and list the selected packages"
    )
    assert Package.objects.get(pk=queue["submitted"].pk).status == Package.Status.LISTED
    shot(page, "journey-moderator-03-version-approved")

    # DMCA: the moderator writes the reason in the note and takes the package down ...
    complaint = queue["complaint"]
    page.goto(f"/admin/compliance/takedowncomplaint/{complaint.pk}/change/")
    page.get_by_label("Moderator note").fill("The notice is complete and plausible.")
    page.get_by_role("button", name="Save", exact=True).click()
    page.locator(".messagelist .success").first.wait_for()
    run_action(
        page,
        "compliance/takedowncomplaint",
        complaint.pk,
        "Take down the packages (unlist, block, suspend licenses)",
    )
    assert TakedownComplaint.objects.get(pk=complaint.pk).status == "taken_down"
    shot(page, "journey-moderator-04-taken-down")
    # ... the creator answers with a counter-notice (as in the console) ...
    takedowns.file_counter_notice(complaint.pk, queue["creator"], COUNTER)
    page.goto(f"/admin/compliance/takedowncomplaint/{complaint.pk}/change/")
    page.get_by_text("The model is my own work; see its history.").wait_for()
    shot(page, "journey-moderator-05-counter-notice")
    # ... and the moderator restores the package.
    run_action(
        page,
        "compliance/takedowncomplaint",
        complaint.pk,
        "Resolve: restore the packages and their licenses",
    )
    assert TakedownComplaint.objects.get(pk=complaint.pk).status == "restored"
    assert Package.objects.get(pk=complaint.package_id).status == Package.Status.LISTED
    shot(page, "journey-moderator-06-restored")

    # A refund of the card-paid order, made at Stripe
    order = queue["order"]
    run_action(
        page,
        "marketplace/order",
        order.pk,
        "Refund the selected orders in full at Stripe (revokes licenses)",
    )
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("refunded", 4900)
    assert License.objects.get(order=order).status == License.Status.REVOKED
    page.goto(f"/admin/marketplace/order/{order.pk}/change/")
    shot(page, "journey-moderator-07-order-refunded")

    # The payout batch
    batch = queue["batch"]
    run_action(
        page,
        "billing/payoutbatch",
        batch.pk,
        "Approve the selected batches and transfer the money",
    )
    # The worker makes the Connect transfer the approval queued.
    wait_for(
        lambda: PayoutBatch.objects.get(pk=batch.pk).status == PayoutBatch.Status.COMPLETED,
        what="the payout transfer",
    )
    assert batch.items.get().status == "paid"
    page.goto(f"/admin/billing/payoutbatch/{batch.pk}/change/")
    page.get_by_text("moderator@fmugateway.local").first.wait_for()
    shot(page, "journey-moderator-08-payout-approved")
