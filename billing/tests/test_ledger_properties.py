"""Random sequences of ledger operations keep the invariants (seeded, reproducible)."""

import random

import pytest

from billing.factories import CreditAccountFactory
from billing.models import Reservation
from billing.services import credits, plans
from fmugateway.core.errors import DomainError

pytestmark = pytest.mark.django_db


def run_sequence(seed: int, plan: str, steps: int = 60) -> None:
    rng = random.Random(seed)
    account = CreditAccountFactory.create(balance=rng.randint(0, 200))
    if plan != "free":
        plans.change_plan(account.user, plan, overage_limit_credits_override=rng.randint(0, 100))
    floor = -plans.plan_for(account.user).overage_limit_credits
    held: list[Reservation] = []
    settled: list[Reservation] = []
    for step in range(steps):
        op = rng.choice(["reserve", "reserve", "settle", "release", "refund", "grant"])
        try:
            if op == "reserve":
                held.append(credits.reserve(account, rng.randint(1, 80), f"job:{seed}:{step}"))
            elif op == "settle" and held:
                reservation = held.pop(rng.randrange(len(held)))
                settled.append(credits.settle(reservation, rng.randint(0, 100)))
            elif op == "release" and held:
                credits.release(held.pop(rng.randrange(len(held))))
            elif op == "refund" and settled:
                reservation = settled.pop(rng.randrange(len(settled)))
                if reservation.charged:
                    credits.refund(
                        account,
                        rng.randint(1, reservation.charged),
                        reference=reservation.reference,
                    )
            elif op == "grant":
                credits.grant_monthly_credits(account, f"20{rng.randint(40, 45)}-01")
        except credits.InsufficientCredits:
            pass
        except DomainError as error:  # anything else is a bug
            raise AssertionError(f"seed {seed} step {step} {op}: {error}") from error
        account.refresh_from_db()
        check = credits.recompute_balance(account)
        assert check.consistent, (seed, step, op, check)
        assert account.balance >= floor, (seed, step, op, account.balance)
        if plan == "free":
            assert account.balance >= 0


@pytest.mark.parametrize("seed", range(12))
def test_random_sequences_on_free_keep_the_ledger_consistent_and_non_negative(seed):
    run_sequence(seed, "free")


@pytest.mark.parametrize("seed", range(4))
def test_random_sequences_on_pro_stay_above_the_overage_limit(seed):
    run_sequence(1000 + seed, "pro")
