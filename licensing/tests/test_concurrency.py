"""Races on PostgreSQL with real threads and committed transactions."""

import threading

import pytest
from django.db import connection, connections

from licensing import entitlements
from licensing.entitlements import RunQuotaExhausted
from licensing.models import Activation, License, RunConsumption
from licensing.services.licenses import activate_license
from licensing.services.seats import assign_seat
from marketplace import services
from marketplace.factories import CouponFactory
from marketplace.models import Coupon
from marketplace.tests.fixtures import issue

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(count: int, work) -> list:
    """Start ``count`` threads at once (each with its own connection) and collect results."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_ten_simultaneous_activations_of_a_three_machine_license_activate_three(
    user, download_listing
):
    issued = issue(user, download_listing)  # max_activations = 3

    codes = run_together(
        10,
        lambda n: activate_license(issued.key, "ball", f"machine-{n}")["payload"]["code"],
    )

    assert sorted(codes) == ["TOO_MANY_ACTIVATIONS"] * 7 + ["VALID"] * 3
    assert Activation.objects.filter(license=issued.license, deactivated_at=None).count() == 3
    assert License.objects.get(pk=issued.license.pk).activation_count == 3


def test_simultaneous_runs_never_take_more_than_the_quota(user, execute_listing):
    license = issue(user, execute_listing).license
    License.objects.filter(pk=license.pk).update(runs_remaining=4)

    results = run_together(10, lambda n: entitlements.consume_run(license.pk, f"job-{n}"))

    exhausted = [r for r in results if isinstance(r, RunQuotaExhausted)]
    assert len(exhausted) == 6
    assert RunConsumption.objects.filter(license=license).count() == 4
    assert License.objects.get(pk=license.pk).runs_remaining == 0


def test_the_same_job_consumes_once_even_when_racing(user, execute_listing):
    license = issue(user, execute_listing).license

    run_together(8, lambda n: entitlements.consume_run(license.pk, "job-1"))

    assert License.objects.get(pk=license.pk).runs_remaining == 99


def test_a_coupon_with_two_uses_left_is_used_exactly_twice(download_listing):
    from accounts.factories import UserFactory

    coupon = CouponFactory(max_uses=2)
    buyers = [UserFactory() for _ in range(6)]
    for buyer in buyers:
        services.add_to_cart(buyer, download_listing.pk)
        services.apply_coupon(buyer, coupon.code)

    results = run_together(6, lambda n: services.checkout(buyers[n]))

    succeeded = [r for r in results if not isinstance(r, Exception)]
    failed = [r for r in results if isinstance(r, Exception)]
    assert len(succeeded) == 2
    assert {getattr(e, "code", repr(e)) for e in failed} == {"coupon_exhausted"}
    assert Coupon.objects.get(pk=coupon.pk).times_used == 2


def test_ten_webhook_deliveries_at_once_issue_the_licenses_once(user, download_listing):
    services.add_to_cart(user, download_listing.pk)
    order = services.checkout(user).order

    run_together(10, lambda n: services.mark_order_paid(order.pk, "pi_race"))

    assert License.objects.filter(order=order).count() == 1


def test_simultaneous_seat_assignments_never_exceed_the_seats(user, package):
    from accounts.factories import UserFactory
    from licensing.models import SeatAssignment
    from marketplace.factories import ListingFactory
    from marketplace.models import Listing

    listing = ListingFactory(package=package, kind=Listing.Kind.SEAT, seats=4, price_amount=900)
    license = issue(user, listing).license
    people = [UserFactory(email=f"member{n}@example.com") for n in range(10)]

    results = run_together(10, lambda n: assign_seat(license, people[n].email, actor=user))

    refused = [r for r in results if not isinstance(r, SeatAssignment)]
    assert {getattr(r, "code", r) for r in refused} == {"no_seats_left"}
    # The owner holds one of the four seats: three others get one, never more.
    assert len(refused) == 7
    assert SeatAssignment.objects.active().filter(license=license).count() == 3
