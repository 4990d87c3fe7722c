"""The world one row of the authorization matrix runs against: five personas and their objects.

Everything is built on first use (``functools.cached_property``), so a row pays only for what
its path, body and checks name (in its own rolled-back transaction). Path templates read it
through ``str.format_map``: ``"/api/v1/jobs/{job.pk}"``. Objects are made through the
services, or as plain rows where a service would need a worker, Stripe's webhook or a real
simulation.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from types import SimpleNamespace
from urllib.parse import urlparse

import numpy as np
from django.test import RequestFactory
from django.utils import timezone

from accounts.factories import UserFactory
from accounts.models import Creator, Membership, OrganisationInvitation
from accounts.services import organisations
from billing.factories import make_api_key
from billing.models import PayoutBatch, PayoutItem
from billing.services import credits
from catalog.services import reviews
from compliance.services import takedowns
from execution import results
from execution.models import JobStatus, SimulationJob
from execution.services import batches as batch_services
from execution.services import jobs as job_services
from licensing.models import License
from licensing.services import seats
from licensing.services.licenses import activate_license, claim_key
from marketplace import services as market
from marketplace.factories import CreatorFactory, ListingFactory
from marketplace.models import Listing
from registry import downloads, signatures
from registry import services as registry
from registry.factories import PackageFactory
from registry.models import Package, PackageVersion, ValidationRun
from registry.validation import VALIDATOR_VERSION, issue_attestation

PACKAGE_STATES = ("draft", "in_review", "listed", "rejected", "unlisted", "taken_down")
BALL_2, BALL_3 = ("bouncing_ball", "2.0"), ("bouncing_ball", "3.0")
SPRING_2 = ("mass_spring_damper", "2.0")
JOB_SETTINGS = {"stop_time": 1.0, "output_interval": 0.1}


def _token() -> str:
    return secrets.token_hex(4)


def _path(url: str) -> str:
    parsed = urlparse(url)
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")


def _request_as(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


class World:
    """Personas: ``creator`` (owns every package), ``buyer`` (owns jobs, licenses, orders...),
    ``other_buyer``, ``other_creator`` (an approved creator with nothing here) and
    ``moderator``; plus ``complainant`` and ``colleague``, who are never asked."""

    def __init__(self, sample_fmus, request) -> None:
        self._samples = sample_fmus
        self._request = request  # pytest's, to start Stripe only for the rows that need it
        self.marker = _token()  # in the owner's texts, which the secret checks look for

    def __getitem__(self, name: str):
        return getattr(self, name)

    # --- people -----------------------------------------------------------------------------

    @cached_property
    def creator(self):
        return CreatorFactory(display_name="Owning creator").user

    @cached_property
    def buyer(self):
        return UserFactory()

    @cached_property
    def other_buyer(self):
        return UserFactory()

    @cached_property
    def other_creator(self):
        return CreatorFactory(display_name="Another creator").user

    @cached_property
    def moderator(self):
        return UserFactory(moderator=True)

    @cached_property
    def complainant(self):
        return UserFactory()

    @cached_property
    def colleague(self):
        return UserFactory()

    # --- packages and versions ----------------------------------------------------------------

    def _upload(self, package: Package, sample: tuple[str, str], number: str) -> PackageVersion:
        fmu = self._samples[sample].fmu_path
        return registry.upload_version(
            package,
            uploaded_by=package.owner,
            upload=registry.ReceivedFile(
                path=fmu, sha256=None, size=fmu.stat().st_size, original_filename=fmu.name
            ),
            version=number,
        )

    @staticmethod
    def _validated(version: PackageVersion) -> PackageVersion:
        """What a passing validation leaves: a finished run, the badge and an attestation."""
        now = timezone.now()
        report = {
            "validator_version": VALIDATOR_VERSION,
            "fmpy_version": "0.3.32",
            "fmu_sha256": version.sha256,
            "model_description": {"problems": [], "passed": True},
            "smoke": {
                "status": "succeeded",
                "code": None,
                "message": None,
                "usage": {"cpu_s": 0.01, "peak_rss_mb": 30.0, "wall_s": 0.02, "output_bytes": 80},
                "rows": 11,
            },
            "test_vectors": [],
        }
        ValidationRun.objects.filter(version=version).update(
            status=ValidationRun.Status.PASSED, progress=100, finished_at=now, report=report
        )
        run = ValidationRun.objects.filter(version=version).first()
        assert run is not None  # the upload queued one
        PackageVersion.objects.filter(pk=version.pk).update(
            validation_status=PackageVersion.ValidationStatus.PASSED,
            certified=True,
            certified_at=now,
            attestation=issue_attestation(version, run),
        )
        version.refresh_from_db()
        return version

    def _package(self, state: str) -> Package:
        status = Package.Status.LISTED if state == "taken_down" else Package.Status(state)
        package = PackageFactory.create(
            owner=self.creator,
            slug=f"pkg-{state.replace('_', '-')}",
            name=f"Package {state}",
            is_free=False,
            status=status,
            listed_at=timezone.now() if status == Package.Status.LISTED else None,
        )
        self._validated(self._upload(package, BALL_2, "1.0.0"))
        return package

    @cached_property
    def pkg_draft(self) -> Package:
        return self._package("draft")

    @cached_property
    def pkg_in_review(self) -> Package:
        return self._package("in_review")

    @cached_property
    def pkg_listed(self) -> Package:
        return self._package("listed")

    @cached_property
    def pkg_rejected(self) -> Package:
        return self._package("rejected")

    @cached_property
    def pkg_unlisted(self) -> Package:
        return self._package("unlisted")

    @cached_property
    def _taken_down(self) -> SimpleNamespace:
        """A listed package the buyer bought and ran, then taken down after a DMCA complaint."""
        package = self._package("taken_down")
        version = package.versions.get(version="1.0.0")
        license = self._buy(ListingFactory.create(package=package, name="Download"))
        job = job_services.submit_job(self.buyer, version, JOB_SETTINGS)
        self._finish(job)
        complaint = self._complaint(package)
        takedowns.take_down(complaint, self.moderator, note="Copied from the complainant's work.")
        package.refresh_from_db()
        return SimpleNamespace(package=package, license=license, job=job, complaint=complaint)

    @cached_property
    def pkg_taken_down(self) -> Package:
        return self._taken_down.package

    @cached_property
    def v_validated(self) -> PackageVersion:
        return self.pkg_listed.versions.get(version="1.0.0")

    @cached_property
    def v_unvalidated(self) -> PackageVersion:
        """Just uploaded: its validation is queued."""
        return self._upload(self.pkg_listed, BALL_3, "1.1.0")

    @cached_property
    def v_yanked(self) -> PackageVersion:
        version = self._validated(self._upload(self.pkg_listed, SPRING_2, "0.9.0"))
        return registry.yank_version(version, self.creator, "Wrong damping constant.")

    @cached_property
    def listing(self) -> Listing:
        """The listed package's paid download SKU."""
        return ListingFactory.create(package=self.pkg_listed, name=f"Download {self.marker}")

    @cached_property
    def listing_draft(self) -> Listing:
        return ListingFactory.create(package=self.pkg_draft, name="Download")

    @cached_property
    def listing_taken_down(self) -> Listing:
        return self._taken_down.license.listing

    @cached_property
    def download_link(self) -> str:
        """A signed download link issued to the package's creator."""
        request = _request_as(self.creator)
        return _path(downloads.issue_download_link(request, self.v_validated)["url"])

    @cached_property
    def signing_key(self):
        return signatures.register_key(self.creator, name=f"key {self.marker}")[0]

    def signature_body(self, version: PackageVersion, user) -> dict:
        """A valid signature of ``version``'s manifest, made with ``user``'s own key."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        from fmugateway.core.signing import b64, canonical_json

        if user is None:
            return {"key_id": 1, "signature": "x"}
        key, private_pem = signatures.register_key(user, name="mine")
        private = load_pem_private_key(private_pem.encode(), password=None)
        assert isinstance(private, Ed25519PrivateKey)
        document = signatures.manifest(version)
        return {"key_id": key.pk, "signature": b64(private.sign(canonical_json(document)))}

    # --- purchases ------------------------------------------------------------------------------

    def _buy(self, listing: Listing, buyer=None) -> License:
        """Cart, checkout and the payment webhook's call: a paid order and its license (its key
        not yet shown, as after a card payment)."""
        buyer = buyer or self.buyer
        market.add_to_cart(buyer, listing.pk)
        order = market.checkout(buyer).order
        if order.total_amount:
            market.mark_order_paid(order, f"pi_{order.number}")
        return License.objects.get(order=order, listing=listing)

    @cached_property
    def license(self) -> License:
        """The buyer's download license of the listed package (key not yet claimed)."""
        return self._buy(self.listing)

    @cached_property
    def order(self):
        return self.license.order

    @cached_property
    def pending_order(self):
        market.add_to_cart(self.buyer, self.listing.pk)
        return market.checkout(self.buyer).order

    @cached_property
    def cart_item(self):
        return market.add_to_cart(self.buyer, self.listing.pk)

    @cached_property
    def license_key(self) -> str:
        return claim_key(self.license, self.buyer).key

    @cached_property
    def activation(self):
        activate_license(self.license_key, self.pkg_listed.slug, "machine-1")
        return self.license.activations.get(fingerprint="machine-1")

    @cached_property
    def seat_license(self) -> License:
        listing = ListingFactory.create(
            package=self.pkg_listed, name="Team of three", kind=Listing.Kind.SEAT, seats=3
        )
        return self._buy(listing)

    @cached_property
    def seat(self):
        return seats.assign_seat(self.seat_license, self.colleague.email, actor=self.buyer)

    @cached_property
    def org_license(self) -> License:
        listing = ListingFactory.create(
            package=self.pkg_listed, name="Company", kind=Listing.Kind.ORG
        )
        return self._buy(listing)

    @cached_property
    def org(self):
        """The buyer's organisation (owner and admin), with a member and an open invitation."""
        org = organisations.create_organisation(self.buyer, name=f"Org {self.marker}")
        organisations.add_member(org, self.colleague.email, actor=self.buyer)
        organisations.add_member(org, "invitee@example.com", actor=self.buyer)
        return org

    @cached_property
    def membership(self) -> Membership:
        return Membership.objects.get(organisation=self.org, user=self.colleague)

    @cached_property
    def invitation(self) -> OrganisationInvitation:
        return OrganisationInvitation.objects.get(organisation=self.org)

    @cached_property
    def sub_license(self) -> License:
        """A monthly subscription license whose Stripe subscription renews (local Stripe)."""
        from marketplace import payments

        self._request.getfixturevalue("stripe_settings")
        listing = ListingFactory.create(
            package=self.pkg_listed,
            name="Monthly",
            pricing_model=Listing.PricingModel.SUBSCRIPTION,
            billing_interval=Listing.Interval.MONTH,
            price_amount=990,
        )
        license = self._buy(listing)
        assert license.order is not None  # bought: an order made it
        payments.start_license_subscriptions(license.order, {})
        license.refresh_from_db()
        assert license.subscription_id, "the local Stripe server made no subscription"
        return license

    @cached_property
    def invoice(self) -> dict:
        """A Stripe invoice of the buyer's (at the local Stripe server), synced as by its
        webhook."""
        from billing.stripe.customers import customer_for
        from billing.stripe.objects import fresh_invoice

        testbed = self._request.getfixturevalue("stripe_testbed")
        customer = customer_for(self.buyer).id
        testbed.call(
            "POST",
            "/v1/invoiceitems",
            customer=customer,
            amount=2500,
            currency="usd",
            description=f"Overage {self.marker}",
        )
        return fresh_invoice(testbed.call("POST", "/v1/invoices", customer=customer)["id"])

    # --- runs -------------------------------------------------------------------------------------

    @staticmethod
    def _finish(job: SimulationJob) -> SimulationJob:
        """What the worker leaves after a successful run: a small stored result."""
        array = np.zeros(11, dtype=[("time", "f8"), ("h", "f8"), ("v", "f8")])
        array["time"] = np.linspace(0.0, 1.0, 11)
        array["h"] = 1.0 - array["time"] ** 2
        stored = results.store_result(f"jobs/{job.pk}", array)
        SimulationJob.objects.filter(pk=job.pk).update(
            status=JobStatus.SUCCEEDED,
            result_npy_key=stored.npy_key,
            result_csv_key=stored.csv_key,
            result_sha256=stored.sha256,
            result_rows=stored.rows,
            result_columns=stored.columns,
            result_stats=results.column_stats(array),
            cpu_s=0.1,
            peak_rss_mb=50.0,
            wall_s=0.2,
            started_at=timezone.now(),
            finished_at=timezone.now(),
        )
        job.refresh_from_db()
        return job

    @cached_property
    def job(self) -> SimulationJob:
        """The buyer's finished job (with results) on the listed package they bought."""
        self.license  # noqa: B018 - the license lets the buyer run it
        return self._finish(job_services.submit_job(self.buyer, self.v_validated, JOB_SETTINGS))

    @cached_property
    def queued_job(self) -> SimulationJob:
        self.license  # noqa: B018
        return job_services.submit_job(self.buyer, self.v_validated, JOB_SETTINGS)

    @cached_property
    def job_taken_down(self) -> SimulationJob:
        return self._taken_down.job

    @cached_property
    def job_link(self) -> str:
        request = _request_as(self.buyer)
        return _path(
            results.issue_link(request, kind="job", object_id=str(self.job.pk), name="csv")["url"]
        )

    @cached_property
    def job_mat_link(self) -> str:
        request = _request_as(self.buyer)
        return _path(
            results.issue_link(request, kind="job", object_id=str(self.job.pk), name="mat")["url"]
        )

    def _batch(self):
        self.license  # noqa: B018
        return batch_services.submit_batch(
            self.buyer, self.v_validated, {**JOB_SETTINGS, "grid": {"e": [0.5, 0.7]}}
        )

    @cached_property
    def batch(self):
        """The buyer's finished sweep of two runs, with its summary."""
        batch = self._batch()
        for run in batch.runs.all():
            self._finish(run)
        SimulationJob.objects.filter(batch=batch).update(result_csv_key="")
        batch_services.count_finished_runs(batch.pk, succeeded=2, failed=0)
        batch.refresh_from_db()
        return batch

    @cached_property
    def queued_batch(self):
        return self._batch()

    @cached_property
    def batch_link(self) -> str:
        request = _request_as(self.buyer)
        link = results.issue_link(
            request, kind="batch", object_id=str(self.batch.pk), name="summary.csv"
        )
        return _path(link["url"])

    # --- reviews ----------------------------------------------------------------------------------

    @cached_property
    def review(self):
        """The buyer's review of the listed package they bought."""
        self.license  # noqa: B018
        return reviews.submit_review(
            self.buyer, self.pkg_listed, rating=4, title="Bounces well", body="Solid model."
        )

    # --- creators: earnings and payouts -------------------------------------------------------

    @cached_property
    def creator_profile(self) -> Creator:
        return Creator.objects.get(user=self.creator)

    @cached_property
    def payout(self) -> PayoutItem:
        """A sale (the buyer's order) and a paid payout to the creator."""
        self.license  # noqa: B018 - the sale's earnings
        batch = PayoutBatch.objects.create(
            reference=f"PB-{self.marker}", status=PayoutBatch.Status.COMPLETED
        )
        return PayoutItem.objects.create(
            batch=batch,
            creator=self.creator_profile,
            currency="EUR",
            amount=4165,
            status=PayoutItem.Status.PAID,
            paid_at=timezone.now(),
        )

    @cached_property
    def pending_creator(self) -> Creator:
        """The creator's profile while its application waits for a moderator."""
        Creator.objects.filter(user=self.creator).update(status=Creator.Status.PENDING)
        return Creator.objects.get(user=self.creator)

    # --- DMCA complaints --------------------------------------------------------------------------

    def _complaint(self, package: Package):
        return takedowns.submit_complaint(
            {
                "package": package.slug,
                "complainant_name": "Rights Holder",
                "complainant_email": "rights@example.com",
                "work_description": f"My bouncing ball model {self.marker}",
                "good_faith": True,
                "accurate": True,
                "signature": "Rights Holder",
            },
            user=self.complainant,
            ip="203.0.113.9",
        )

    @cached_property
    def complaint_submitted(self):
        """A complaint against the listed package no moderator has looked at yet."""
        return self._complaint(self.pkg_listed)

    @cached_property
    def complaint_rejected(self):
        complaint = self._complaint(self.pkg_listed)
        return takedowns.reject_complaint(complaint, self.moderator, "Not a copy.")

    @cached_property
    def complaint_taken_down(self):
        return self._taken_down.complaint

    @cached_property
    def license_taken_down(self) -> License:
        return self._taken_down.license

    # --- billing ----------------------------------------------------------------------------------

    @cached_property
    def api_key(self):
        return make_api_key(self.buyer, name=f"key {self.marker}")[0]

    @cached_property
    def ledger_entry(self):
        account = credits.get_account(self.buyer)
        return credits.adjust(account, 25, memo=f"goodwill {self.marker}", actor=None)
