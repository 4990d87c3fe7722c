"""The credit ledger: every change of an account's credits is one appended ``CreditEntry``.

Invariants every function here keeps:

* ``CreditAccount.balance == sum(entries.amount)``: the entry and the balance are written in one
  transaction while the account row is locked (``select_for_update``), so concurrent spends
  serialise and cannot overdraw.
* An account on a plan with ``overage_limit_credits = 0`` (Free) never goes below zero through
  ``reserve``; other plans may go down to ``-overage_limit_credits``. Only ``adjust`` (staff) can
  push a balance anywhere.
* Writes that must happen once are keyed by ``(account, kind, reference)`` (a unique constraint
  backs the check made under the lock), so retried tasks and webhooks never double-count.
* Every change writes an audit entry in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from billing.models import CreditAccount, CreditEntry, Reservation
from billing.services import plans
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError

Kind = CreditEntry.Kind


class InsufficientCredits(DomainError):
    status_code = 402
    code = "insufficient_credits"
    detail = "Not enough credits for this request."


def current_cycle(now: datetime | None = None) -> str:
    """The billing cycle containing ``now``: the calendar month in UTC, ``YYYY-MM``."""
    return (now or timezone.now()).astimezone(UTC).strftime("%Y-%m")


def get_account(user: User) -> CreditAccount:
    """The user's credit account, opened (with this cycle's grant) on first use."""
    account = CreditAccount.objects.filter(user=user).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            account = CreditAccount.objects.create(user=user)
            grant_monthly_credits(account, current_cycle())
            account.refresh_from_db()
    except IntegrityError:  # opened concurrently: use theirs
        account = CreditAccount.objects.get(user=user)
    return account


def balance_of(user: User) -> int:
    """The cached balance. Opens the account with this cycle's grant if there is none yet, so
    a new user sees the credits their plan includes before their first run, not 0."""
    return get_account(user).balance


def _lock(account: CreditAccount | int) -> CreditAccount:
    pk = account.pk if isinstance(account, CreditAccount) else account
    return CreditAccount.objects.select_for_update().select_related("user").get(pk=pk)


def _append(
    locked: CreditAccount,
    kind: str,
    amount: int,
    *,
    reference: str = "",
    memo: str = "",
    actor: User | None = None,
) -> CreditEntry:
    """Append one entry and move the cached balance with it. Caller holds the row lock."""
    before = locked.balance
    locked.balance = before + amount
    locked.save(update_fields=["balance", "updated_at"])
    entry = CreditEntry.objects.create(
        account=locked,
        kind=kind,
        amount=amount,
        balance_after=locked.balance,
        reference=reference,
        memo=memo[:255],
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )
    record(
        f"billing.credits.{kind}",
        actor=actor,
        target=locked,
        before={"balance": before},
        after={
            "balance": locked.balance,
            "amount": amount,
            "reference": reference,
            "entry": entry.pk,
        },
    )
    return entry


def _existing(locked: CreditAccount, kind: str, reference: str) -> CreditEntry | None:
    return CreditEntry.objects.filter(account=locked, kind=kind, reference=reference).first()


def _positive(amount: int, name: str = "amount") -> int:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise DomainError(f"{name} must be a positive whole number of credits.", code="invalid")
    return amount


def grant_monthly_credits(account: CreditAccount, cycle: str | None = None) -> CreditEntry | None:
    """Grant the plan's included credits for ``cycle`` (``YYYY-MM``; default: this month).

    Exactly once per account and cycle: returns the new entry, or ``None`` if the cycle was
    already granted (a second task run, a concurrent run, a retry). Unused credits roll over.
    """
    cycle = cycle or current_cycle()
    reference = f"cycle:{cycle}"
    with transaction.atomic():
        locked = _lock(account)
        if _existing(locked, Kind.GRANT, reference) is not None:
            return None
        amount = plans.plan_for(locked.user).included_credits
        return _append(
            locked, Kind.GRANT, amount, reference=reference, memo=f"Included credits {cycle}"
        )


def purchase_credits(
    account: CreditAccount, amount: int, *, reference: str, memo: str = ""
) -> CreditEntry:
    """Add bought credits once per ``reference`` (e.g. ``stripe:pi_...``); retries return it."""
    _positive(amount)
    if not reference:
        raise DomainError("A purchase needs a reference.", code="invalid")
    with transaction.atomic():
        locked = _lock(account)
        existing = _existing(locked, Kind.PURCHASE, reference)
        if existing is not None:
            return existing
        return _append(locked, Kind.PURCHASE, amount, reference=reference, memo=memo)


def reverse_purchase(
    account: CreditAccount,
    amount: int,
    *,
    purchase_reference: str,
    refund_reference: str,
    memo: str = "",
) -> CreditEntry | None:
    """Take back ``amount`` credits of the purchase ``purchase_reference`` (its money was refunded).

    Written once per refund (reference ``<purchase_reference>:<refund_reference>``) as a negative
    ``purchase`` entry; never takes back more than the purchase added in all. Returns ``None``
    when nothing is left to take or the purchase is unknown. The balance may go below zero:
    credits already spent become a debt.
    """
    _positive(amount)
    if not refund_reference or not purchase_reference:
        raise DomainError("A reversal needs its purchase and refund references.", code="invalid")
    reference = f"{purchase_reference}:{refund_reference}"
    with transaction.atomic():
        locked = _lock(account)
        existing = _existing(locked, Kind.PURCHASE, reference)
        if existing is not None:
            return existing
        purchase = _existing(locked, Kind.PURCHASE, purchase_reference)
        if purchase is None:
            return None
        taken = -sum(
            CreditEntry.objects.filter(
                account=locked,
                kind=Kind.PURCHASE,
                reference__startswith=f"{purchase_reference}:",
            ).values_list("amount", flat=True)
        )
        amount = min(amount, purchase.amount - taken)
        if amount <= 0:
            return None
        return _append(locked, Kind.PURCHASE, -amount, reference=reference, memo=memo or "Refunded")


def grant_plan_difference(account: CreditAccount, cycle: str | None = None) -> CreditEntry | None:
    """Top up ``cycle``'s grant to the account's current plan after an upgrade mid-cycle.

    The account gets its plan's included credits less what it was already granted for the
    cycle, once per cycle and plan (``None`` when nothing is due). The next cycles' grants are
    the plan's full amount, as usual.
    """
    cycle = cycle or current_cycle()
    with transaction.atomic():
        locked = _lock(account)
        plan = plans.plan_for(locked.user)
        reference = f"cycle:{cycle}:{plan.code}"
        if _existing(locked, Kind.GRANT, reference) is not None:
            return None
        granted = sum(
            CreditEntry.objects.filter(
                account=locked, kind=Kind.GRANT, reference__startswith=f"cycle:{cycle}"
            ).values_list("amount", flat=True)
        )
        due = plan.included_credits - granted
        if due <= 0:
            return None
        return _append(
            locked, Kind.GRANT, due, reference=reference, memo=f"{plan.tier.name} credits {cycle}"
        )


@dataclass(frozen=True)
class Headroom:
    balance: int
    floor: int  # the lowest balance a reservation may leave

    @property
    def available(self) -> int:
        return self.balance - self.floor


def headroom(account: CreditAccount) -> Headroom:
    plan = plans.plan_for(account.user)
    return Headroom(balance=account.balance, floor=-plan.overage_limit_credits)


def reserve(
    account: CreditAccount, amount: int, reference: str, *, pricing: dict[str, Any] | None = None
) -> Reservation:
    """Hold ``amount`` credits for the work named ``reference`` (e.g. ``job:123``).

    Guarantees: the balance after the hold stays at or above ``-overage_limit_credits`` of the
    plan (0 on Free), else ``InsufficientCredits`` (402) and nothing is written; concurrent
    reservations on one account serialise on its row lock. Idempotent per reference: reserving
    the same reference again returns the first reservation (``reservation_conflict`` if the
    amount differs).
    """
    _positive(amount)
    if not reference:
        raise DomainError("A reservation needs a reference.", code="invalid")
    with transaction.atomic():
        locked = _lock(account)
        existing = Reservation.objects.filter(account=locked, reference=reference).first()
        if existing is not None:
            if existing.amount != amount:
                raise ConflictError(
                    f"{reference} already holds {existing.amount} credits.",
                    code="reservation_conflict",
                )
            return existing
        room = headroom(locked)
        if locked.balance - amount < room.floor:
            raise InsufficientCredits(
                f"This needs {amount} credits; {max(room.available, 0)} are available.",
                fields={"amount": [{"code": "insufficient_credits", "detail": str(amount)}]},
            )
        reservation = Reservation.objects.create(
            account=locked, reference=reference, amount=amount, pricing=pricing or {}
        )
        _append(locked, Kind.RESERVE, -amount, reference=reference)
    return reservation


def _close(reservation: Reservation, status: str, charged: int) -> tuple[Reservation, bool]:
    """Claim ``reservation`` for closing; returns (fresh row, whether we closed it)."""
    now = timezone.now()
    claimed = Reservation.objects.filter(pk=reservation.pk, status=Reservation.Status.HELD).update(
        status=status, charged=charged, closed_at=now
    )
    return Reservation.objects.get(pk=reservation.pk), bool(claimed)


def settle(reservation: Reservation, actual_amount: int) -> Reservation:
    """Charge ``actual_amount`` (capped at the amount reserved) and release the rest.

    Guarantees: never charges more than was reserved; closes the reservation exactly once
    (settling or releasing a closed reservation changes nothing and returns it as it is).
    """
    if not isinstance(actual_amount, int) or actual_amount < 0:
        raise DomainError("actual_amount must be a non-negative whole number.", code="invalid")
    with transaction.atomic():
        locked = _lock(reservation.account_id)
        charged = min(actual_amount, reservation.amount)
        fresh, closed = _close(reservation, Reservation.Status.SETTLED, charged)
        if not closed:
            return fresh
        _append(
            locked,
            Kind.SETTLE,
            fresh.amount - charged,
            reference=fresh.reference,
            memo=f"Charged {charged} of {fresh.amount} reserved",
        )
    return fresh


def release(reservation: Reservation, *, memo: str = "") -> Reservation:
    """Return the whole reservation (the platform failed the work: charge nothing). Idempotent."""
    with transaction.atomic():
        locked = _lock(reservation.account_id)
        fresh, closed = _close(reservation, Reservation.Status.RELEASED, 0)
        if not closed:
            return fresh
        _append(locked, Kind.RELEASE, fresh.amount, reference=fresh.reference, memo=memo)
    return fresh


def refund(
    account: CreditAccount,
    amount: int,
    *,
    reference: str,
    memo: str = "",
    actor: User | None = None,
) -> CreditEntry:
    """Give back ``amount`` credits once per ``reference``.

    If ``reference`` names a settled reservation of the account, at most what it charged can be
    refunded. A second refund with the same reference returns the first entry.
    """
    _positive(amount)
    if not reference:
        raise DomainError("A refund needs a reference.", code="invalid")
    with transaction.atomic():
        locked = _lock(account)
        existing = _existing(locked, Kind.REFUND, reference)
        if existing is not None:
            return existing
        reservation = (
            Reservation.objects.select_for_update()
            .filter(account=locked, reference=reference)
            .first()
        )
        if reservation is not None:
            if reservation.status != Reservation.Status.SETTLED:
                raise ConflictError(
                    "Only a settled charge can be refunded.", code="reservation_not_settled"
                )
            if amount > (reservation.charged or 0):
                raise DomainError(
                    f"At most {reservation.charged} credits were charged for {reference}.",
                    code="refund_exceeds_charge",
                )
            reservation.refunded = amount
            reservation.save(update_fields=["refunded"])
        return _append(locked, Kind.REFUND, amount, reference=reference, memo=memo, actor=actor)


def adjust(account: CreditAccount, amount: int, *, memo: str, actor: User | None) -> CreditEntry:
    """A staff correction of ``amount`` (signed, non-zero) credits with a mandatory memo."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
        raise DomainError("An adjustment must be a non-zero whole number.", code="invalid")
    if not memo.strip():
        raise DomainError("An adjustment needs a memo saying why.", code="invalid")
    with transaction.atomic():
        locked = _lock(account)
        return _append(locked, Kind.ADJUSTMENT, amount, memo=memo.strip(), actor=actor)


@dataclass(frozen=True)
class LedgerCheck:
    cached: int
    computed: int

    @property
    def consistent(self) -> bool:
        return self.cached == self.computed


def recompute_balance(account: CreditAccount) -> LedgerCheck:
    """Compare the cached balance with the sum of the ledger (read under the row lock)."""
    with transaction.atomic():
        locked = _lock(account)
        return LedgerCheck(cached=locked.balance, computed=locked.recompute_balance())
