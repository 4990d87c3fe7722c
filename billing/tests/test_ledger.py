"""The credit ledger: reservations, settlement, release, refunds, adjustments, grants."""

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from accounts.factories import UserFactory
from billing.factories import CreditAccountFactory
from billing.models import CreditAccount, CreditEntry, Reservation
from billing.services import credits, plans, refund_job, reserve_for_job
from billing.services.credits import InsufficientCredits
from billing.tasks import grant_monthly_credits as grant_task
from fmugateway.core.errors import ConflictError, DomainError
from fmugateway.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def entries(account) -> list[tuple[str, int]]:
    return list(account.entries.order_by("id").values_list("kind", "amount"))


def assert_consistent(account) -> None:
    check = credits.recompute_balance(account)
    assert check.consistent, check


def test_reserve_then_settle_charges_actual_and_releases_the_rest(account):
    reservation = credits.reserve(account, 30, "job:1")
    account.refresh_from_db()
    assert account.balance == 70

    settled = credits.settle(reservation, 12)

    account.refresh_from_db()
    assert account.balance == 88
    assert settled.status == "settled" and settled.charged == 12
    assert entries(account)[-2:] == [("reserve", -30), ("settle", 18)]
    assert_consistent(account)


def test_settle_never_charges_more_than_reserved(account):
    reservation = credits.reserve(account, 10, "job:1")

    settled = credits.settle(reservation, 500)

    account.refresh_from_db()
    assert settled.charged == 10
    assert account.balance == 90


def test_release_charges_nothing(account):
    reservation = credits.reserve(account, 40, "job:1")

    credits.release(reservation)

    account.refresh_from_db()
    assert account.balance == 100
    assert Reservation.objects.get(pk=reservation.pk).status == "released"


def test_closing_twice_changes_nothing(account):
    reservation = credits.reserve(account, 40, "job:1")

    credits.settle(reservation, 5)
    credits.settle(reservation, 5)
    again = credits.release(reservation)

    account.refresh_from_db()
    assert account.balance == 95
    assert again.status == "settled"
    assert [kind for kind, _ in entries(account)].count("settle") == 1
    assert "release" not in [kind for kind, _ in entries(account)]


def test_reserving_the_same_reference_twice_returns_the_first(account):
    first = credits.reserve(account, 10, "job:1")

    again = credits.reserve(account, 10, "job:1")

    account.refresh_from_db()
    assert again.pk == first.pk
    assert account.balance == 90
    with pytest.raises(ConflictError):
        credits.reserve(account, 11, "job:1")


def test_free_account_cannot_go_below_zero(account):
    with pytest.raises(InsufficientCredits) as error:
        credits.reserve(account, 101, "job:1")

    assert error.value.status_code == 402
    assert error.value.code == "insufficient_credits"
    account.refresh_from_db()
    assert account.balance == 100
    assert not Reservation.objects.exists()
    credits.reserve(account, 100, "job:2")
    account.refresh_from_db()
    assert account.balance == 0


def test_pro_account_may_go_negative_down_to_its_overage_limit(user, account):
    plans.change_plan(user, "pro", overage_limit_credits_override=50)

    credits.reserve(account, 150, "job:1")
    with pytest.raises(InsufficientCredits):
        credits.reserve(account, 1, "job:2")

    account.refresh_from_db()
    assert account.balance == -50


def test_refund_of_a_settled_job_is_capped_by_its_charge_and_happens_once(account):
    reservation = credits.reserve(account, 30, "job:1")
    credits.settle(reservation, 20)

    with pytest.raises(DomainError) as error:
        credits.refund(account, 21, reference="job:1")
    assert error.value.code == "refund_exceeds_charge"
    first = credits.refund(account, 20, reference="job:1", memo="support")
    again = credits.refund(account, 20, reference="job:1")

    account.refresh_from_db()
    assert again.pk == first.pk
    assert account.balance == 100
    assert Reservation.objects.get(pk=reservation.pk).refunded == 20


def test_open_reservation_cannot_be_refunded(account):
    credits.reserve(account, 30, "job:1")

    with pytest.raises(ConflictError):
        credits.refund(account, 5, reference="job:1")


def test_refund_of_a_held_job_says_it_is_not_settled(account):
    # Given a job whose credits are still held (nothing charged yet)
    reservation = reserve_for_job(account.user, "job:1", 30)

    # When its charge is refunded
    with pytest.raises(ConflictError) as error:
        refund_job(reservation)

    # Then the refusal says why, and nothing is written
    assert error.value.code == "reservation_not_settled"
    assert not account.entries.filter(kind=CreditEntry.Kind.REFUND).exists()


def test_refund_of_a_settled_job_gives_back_its_whole_charge_by_default(account):
    reservation = reserve_for_job(account.user, "job:1", 30)
    settled = credits.settle(reservation, 20)

    entry = refund_job(settled, memo="support")

    assert entry.amount == 20
    assert Reservation.objects.get(pk=reservation.pk).refunded == 20


def test_adjustment_needs_a_memo_and_records_the_actor(account, moderator):
    with pytest.raises(DomainError):
        credits.adjust(account, 5, memo=" ", actor=moderator)

    entry = credits.adjust(account, -120, memo="chargeback", actor=moderator)

    assert entry.actor == moderator
    assert entry.balance_after == -20  # staff may push a balance anywhere
    assert_consistent(account)


def test_purchase_is_recorded_once_per_reference(account):
    first = credits.purchase_credits(account, 500, reference="stripe:pi_1")
    again = credits.purchase_credits(account, 500, reference="stripe:pi_1")

    account.refresh_from_db()
    assert first.pk == again.pk
    assert account.balance == 600


def test_same_kind_and_reference_cannot_be_written_twice_even_bypassing_services(account):
    credits.purchase_credits(account, 5, reference="stripe:pi_1")

    with pytest.raises(DatabaseError), transaction.atomic():
        CreditEntry.objects.create(
            account=account, kind="purchase", amount=5, balance_after=0, reference="stripe:pi_1"
        )


def test_ledger_is_append_only(account):
    entry = account.entries.first()

    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        CreditEntry.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(PermissionError):
        entry.delete()
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE billing_creditentry SET amount = 1 WHERE id = %s", [entry.pk])


def test_every_credit_change_is_audited(account, moderator):
    reservation = credits.reserve(account, 10, "job:1")
    credits.settle(reservation, 5)
    credits.release(credits.reserve(account, 10, "job:2"))
    credits.refund(account, 5, reference="job:1")
    credits.adjust(account, 3, memo="goodwill", actor=moderator)
    credits.purchase_credits(account, 7, reference="stripe:pi_1")
    credits.grant_monthly_credits(account, "2030-01")

    audited = list(
        AuditEntry.objects.filter(target_type="billing.creditaccount", target_id=str(account.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    ledger = [f"billing.credits.{kind}" for kind, _ in entries(account)]
    assert audited == ledger
    assert set(audited) >= {
        "billing.credits.reserve",
        "billing.credits.settle",
        "billing.credits.release",
        "billing.credits.refund",
        "billing.credits.adjustment",
        "billing.credits.purchase",
        "billing.credits.grant",
    }


def test_opening_an_account_grants_this_cycle(user):
    account = credits.get_account(user)

    assert account.balance == 1000
    assert entries(account) == [("grant", 1000)]
    assert credits.get_account(user).pk == account.pk


def test_monthly_grant_happens_once_per_cycle(user):
    account = credits.get_account(user)  # granted this cycle on opening

    assert credits.grant_monthly_credits(account) is None
    assert credits.grant_monthly_credits(account, "2031-02") is not None
    assert credits.grant_monthly_credits(account, "2031-02") is None

    account.refresh_from_db()
    assert account.balance == 2000


def test_grant_amount_follows_the_plan(user):
    plans.change_plan(user, "pro")
    account = CreditAccountFactory(user=user)

    entry = credits.grant_monthly_credits(account, "2031-03")

    assert entry.amount == 150_000


def test_monthly_task_grants_every_account_once_even_when_run_twice():
    accounts = [CreditAccountFactory() for _ in range(3)]
    inactive = CreditAccountFactory(user=UserFactory(is_active=False))

    assert grant_task("2032-05") == 3
    assert grant_task("2032-05") == 0

    for account in accounts:
        assert account.entries.filter(kind="grant", reference="cycle:2032-05").count() == 1
    assert not inactive.entries.filter(kind="grant").exists()


def test_task_is_registered_with_beat(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert "billing.tasks.grant_monthly_credits" in tasks


def test_balance_can_be_recomputed_from_the_ledger(account):
    CreditAccount.objects.filter(pk=account.pk).update(balance=999)  # simulate corruption

    check = credits.recompute_balance(account)

    assert not check.consistent
    assert check.computed == 100
