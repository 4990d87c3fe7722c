"""Commerce fixtures every app's tests use (a pytest plugin, see the root ``conftest.py``): a
creator with a listed package, listings, buyers; ``buy`` and ``issue`` for orders and licenses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from rest_framework.test import APIClient

from billing.tests.stripe_fixtures import TEST_SECRET_KEY
from licensing.services.licenses import IssuedKey, issue_license
from marketplace import services
from marketplace.factories import CreatorFactory, ListingFactory
from marketplace.models import Listing
from registry.factories import PackageFactory
from registry.models import Package, PackageVersion


@pytest.fixture(autouse=True)
def _generous_license_rates(settings):
    """Throttle tests set their own limits; the others must not trip over shared counters."""
    settings.LICENSE_VERIFY_RATE_PER_IP = "100000/min"
    settings.LICENSE_VERIFY_RATE_PER_KEY = "100000/min"


# Stripe out of reach: a call that was not meant to reach it fails at once (connection refused).
UNREACHABLE_STRIPE = "http://127.0.0.1:9"


@contextmanager
def payments_set_up() -> Iterator[None]:
    """A server where payments are set up (paid orders can be made: ``require_payments``), with
    Stripe itself out of reach unless the test started the local one (``stripe_settings``)."""
    if django_settings.STRIPE_SECRET_KEY:
        yield
        return
    with override_settings(STRIPE_SECRET_KEY=TEST_SECRET_KEY, STRIPE_API_BASE=UNREACHABLE_STRIPE):
        yield


@pytest.fixture(autouse=True)
def _payments_set_up(settings):
    """Commerce tests run on a server with payments set up; a test of one without clears
    ``STRIPE_SECRET_KEY`` itself."""
    if not settings.STRIPE_SECRET_KEY:
        settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
        settings.STRIPE_API_BASE = UNREACHABLE_STRIPE


# What a test directory's conftest (or a test module) takes with ``import *``: the fixtures,
# which pytest finds by name (the autouse one included), not a plugin, so that ``package`` here
# does not replace the registry's ``package`` for every other test.
__all__ = [
    "_generous_license_rates",
    "_payments_set_up",
    "buyer_client",
    "download_listing",
    "execute_listing",
    "free_listing",
    "other_package",
    "package",
    "seller",
    "seller_client",
    "version",
]


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def seller(db):
    return CreatorFactory()


@pytest.fixture
def seller_client(seller):
    return client_for(seller.user)


@pytest.fixture
def package(seller):
    return PackageFactory(
        owner=seller.user, slug="ball", name="Bouncing ball", is_free=False, status="listed"
    )


@pytest.fixture
def other_package(seller):
    return PackageFactory(
        owner=seller.user, slug="tank", name="Water tank", is_free=False, status="listed"
    )


@pytest.fixture
def version(package, seller):
    """A validated version of ``package`` without a stored file (rights, not runs, under test)."""
    return PackageVersion.objects.create(
        package=package,
        version="1.0.0",
        uploaded_by=seller.user,
        artifact_key="artifacts/ball-1.0.0.fmu",
        sha256="b" * 64,
        size=1234,
        fmi_version="2.0",
        model_name="BouncingBall",
        validation_status=PackageVersion.ValidationStatus.PASSED,
    )


@pytest.fixture
def download_listing(package):
    return ListingFactory(package=package, name="Download", price_amount=4900)


@pytest.fixture
def execute_listing(package):
    return ListingFactory(
        package=package,
        name="100 runs",
        kind=Listing.Kind.EXECUTE_ONLY,
        run_quota=100,
        price_amount=1900,
    )


@pytest.fixture
def free_listing(package):
    return ListingFactory(package=package, name="Community", pricing_model="free", price_amount=0)


@pytest.fixture
def buyer_client(user):
    return client_for(user)


def issue(owner, listing, **kwargs) -> IssuedKey:
    """A license with its key, as a buyer gets it (without going through an order)."""
    return issue_license(owner, listing, **kwargs)


def buy(user, *listings, payment_reference: str = "") -> services.CheckoutResult:
    """Cart → checkout → (for paid orders) the payment webhook's call, on a server where
    payments are set up."""
    with payments_set_up():
        for listing in listings:
            services.add_to_cart(user, listing.pk)
        result = services.checkout(user)
    if result.order.total_amount:
        services.mark_order_paid(result.order, payment_reference or f"pi_{result.order.number}")
        result.order.refresh_from_db()
    return result


def unlisted(package) -> None:
    Package.objects.filter(pk=package.pk).update(status=Package.Status.UNLISTED)
