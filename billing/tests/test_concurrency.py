"""Concurrent spends on PostgreSQL: real threads, each with its own database connection."""

import threading

import pytest
from django.db import connection, connections

from accounts.factories import UserFactory
from billing.factories import CreditAccountFactory
from billing.models import CreditAccount, CreditEntry, Reservation
from billing.services import credits

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's"),
]


def run_at_once(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released together; results or exceptions."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as exc:  # collected for the assertions
            results[index] = exc
        finally:
            connections.close_all()  # this thread's connections

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_fifty_simultaneous_reservations_cannot_overdraw():
    account = CreditAccountFactory(balance=100)  # covers 10 reservations of 10

    results = run_at_once(50, lambda i: credits.reserve(account, 10, f"job:{i}"))

    won = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, credits.InsufficientCredits)]
    assert len(won) == 10, results
    assert len(refused) == 40, results
    account.refresh_from_db()
    assert account.balance == 0
    assert credits.recompute_balance(account).consistent
    assert account.entries.filter(kind="reserve").count() == 10
    balances = list(account.entries.order_by("id").values_list("balance_after", flat=True))
    assert balances == [100, 90, 80, 70, 60, 50, 40, 30, 20, 10, 0]


def test_concurrent_monthly_grants_write_once():
    account = CreditAccountFactory()

    results = run_at_once(10, lambda i: credits.grant_monthly_credits(account, "2033-01"))

    assert sum(isinstance(r, CreditEntry) for r in results) == 1
    assert [r for r in results if isinstance(r, Exception)] == []
    assert account.entries.filter(kind="grant").count() == 1


def test_concurrent_first_use_opens_one_account_with_one_grant():
    user = UserFactory()

    results = run_at_once(8, lambda i: credits.get_account(user).pk)

    assert len(set(results)) == 1, results
    account = CreditAccount.objects.get(user=user)
    assert account.entries.filter(kind="grant").count() == 1
    assert account.balance == 1000
