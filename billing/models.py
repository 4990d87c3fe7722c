"""Billing's tables: API keys, each account's plan, and the append-only credit ledger.

Business rules live in ``billing.services``; these models only hold state and the behaviour of
one row (is this key usable? is this ledger consistent?).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q, Sum
from django.utils import timezone

KEY_PREFIX = "fmugw_live_"


class ApiKeyQuerySet(models.QuerySet):
    def owned_by(self, user) -> ApiKeyQuerySet:
        return self.filter(owner=user) if getattr(user, "is_authenticated", False) else self.none()

    def usable(self, now=None) -> ApiKeyQuerySet:
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiKey(models.Model):
    """A long-lived credential for programs. Only a keyed hash of the secret is stored.

    The full key reads ``fmugw_live_<public_id>_<secret>``; ``public_id`` finds the row, the HMAC
    of the whole key (``KEY_HASH_SECRET``) proves the secret.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    public_id = models.CharField(max_length=24, unique=True)
    # Hex HMAC-SHA256; varchar, not char: a char(n) column compared with text skips its index.
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list, help_text="Subset of fmugateway.core.scopes.SCOPES.")
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"
        indexes = [models.Index(fields=["owner", "-created_at"], name="billing_apikey_owner_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def prefix(self) -> str:
        """The non-secret start of the key, shown in lists so people recognise their keys."""
        return f"{KEY_PREFIX}{self.public_id}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes or ())


class AccountPlan(models.Model):
    """Which pricing tier (``pricing_tiers.json``) an account is on.

    Shaped like a payment provider's subscription (status, current period, external id) so that
    dj-stripe's subscription events can drive it later; per-account overrides cover negotiated
    Enterprise terms. A user without a row is on the default (Free) tier.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        TRIALING = "trialing", "Trialing"
        PAST_DUE = "past_due", "Past due"
        CANCELED = "canceled", "Canceled"

    class Source(models.TextChoices):
        DEFAULT = "default", "Default plan"
        MANUAL = "manual", "Set by staff"
        STRIPE = "stripe", "Stripe subscription"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_plan"
    )
    plan = models.CharField(max_length=50, help_text="A tier code from pricing_tiers.json.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.DEFAULT)
    external_id = models.CharField(
        max_length=255, blank=True, help_text="The provider's subscription id, when it has one."
    )
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    grace_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A past-due subscription keeps its plan until then, then falls back to Free.",
    )
    rate_limit_per_minute_override = models.PositiveIntegerField(null=True, blank=True)
    included_credits_override = models.PositiveIntegerField(null=True, blank=True)
    overage_limit_credits_override = models.PositiveIntegerField(null=True, blank=True)
    overage_rate_override_usd = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.000001"))],
        help_text="The price of an overdrawn credit in USD agreed with this account (Enterprise's "
        "negotiated rate); empty: the tier's rate. Overage and credit packs are priced at it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id"]

    def __str__(self) -> str:
        return f"{self.user} on {self.plan} ({self.status})"

    @property
    def is_in_good_standing(self) -> bool:
        if self.status == self.Status.PAST_DUE:  # a failed renewal, within its grace period
            return self.grace_until is not None and self.grace_until > timezone.now()
        return self.status in {self.Status.ACTIVE, self.Status.TRIALING}


class CreditAccount(models.Model):
    """One account's credits. ``balance`` caches the sum of its ledger entries.

    It is changed only by ``billing.services.credits``, in the same transaction as the entry it
    reflects and under ``select_for_update()`` on this row, so concurrent spends serialise.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_account"
    )
    balance = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id"]

    def __str__(self) -> str:
        return f"{self.user}: {self.balance} credits"

    def recompute_balance(self) -> int:
        """The balance according to the ledger (the source of truth)."""
        return self.entries.aggregate(total=Sum("amount"))["total"] or 0


class CreditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The credit ledger is append-only.")

    def delete(self):
        raise PermissionError("The credit ledger is append-only.")

    def for_user(self, user) -> CreditEntryQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(account__user_id=user.pk)


class CreditEntry(models.Model):
    """One append-only line of the credit ledger; amounts are signed integer credits."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Monthly grant"
        PURCHASE = "purchase", "Purchase"
        RESERVE = "reserve", "Reservation"
        SETTLE = "settle", "Settlement (unused part of a reservation)"
        RELEASE = "release", "Release (reservation returned in full)"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Adjustment"
        OVERAGE = "overage", "Overage invoiced"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    reference = models.CharField(max_length=100, blank=True)
    memo = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # The ledger outlives users and its table refuses UPDATEs (no SET_NULL possible).
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CreditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "credit entries"
        constraints = [
            # The same (kind, reference) cannot be written twice for an account: a monthly grant
            # per cycle, a reservation/settlement/release per job, a purchase per payment.
            models.UniqueConstraint(
                fields=["account", "kind", "reference"],
                condition=~Q(reference="") & ~Q(kind="adjustment"),
                name="billing_entry_kind_reference_unique",
            )
        ]
        indexes = [models.Index(fields=["account", "-id"], name="billing_entry_account_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} ({self.reference or self.memo or '-'})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Credit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Credit entries cannot be deleted.")


class Reservation(models.Model):
    """Credits held for one piece of work (a job) until it is settled or released."""

    class Status(models.TextChoices):
        HELD = "held", "Held"
        SETTLED = "settled", "Settled"
        RELEASED = "released", "Released"

    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="reservations"
    )
    reference = models.CharField(max_length=100)
    amount = models.BigIntegerField(help_text="Credits held (positive).")
    charged = models.BigIntegerField(null=True, blank=True)
    refunded = models.BigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.HELD)
    pricing = models.JSONField(default=dict, blank=True, help_text="What the price depends on.")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "reference"], name="billing_reservation_reference_unique"
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="billing_resv_status_idx")]

    def __str__(self) -> str:
        return f"{self.reference}: {self.amount} ({self.status})"


class OverageChargeQuerySet(models.QuerySet):
    def for_user(self, user) -> OverageChargeQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(account__user_id=user.pk)


class OverageCharge(models.Model):
    """The credits an account overdrew in one billing cycle, billed in money once.

    Written with its ledger entry (the debt, cleared) when the cycle is closed; ``invoiced``
    once Stripe holds the invoice item. One per account and cycle.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent to Stripe"
        INVOICED = "invoiced", "Invoice item created"

    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="overage_charges"
    )
    cycle = models.CharField(max_length=7, help_text="YYYY-MM")
    credits = models.BigIntegerField()
    amount = models.BigIntegerField(help_text="Minor units of ``currency``.")
    currency = models.CharField(max_length=3)
    rate = models.CharField(max_length=32, help_text="The plan's overage rate per credit.")
    plan = models.CharField(max_length=50)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    stripe_invoice_item = models.CharField(max_length=255, blank=True)
    stripe_invoice = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    invoiced_at = models.DateTimeField(null=True, blank=True)

    objects = OverageChargeQuerySet.as_manager()

    class Meta:
        ordering = ["-cycle", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "cycle"], name="billing_overage_account_cycle_unique"
            )
        ]
        indexes = [models.Index(fields=["status"], name="billing_overage_status_idx")]

    def __str__(self) -> str:
        return f"{self.account.user_id} {self.cycle}: {self.credits} credits ({self.status})"


# --- Creator earnings ----------------------------------------------------------------------


class CreatorEarningQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The earnings ledger is append-only.")

    def delete(self):
        raise PermissionError("The earnings ledger is append-only.")


class CreatorEarning(models.Model):
    """One append-only line of a creator's earnings: a sale (+), its reversal (-), money paid
    out (-) or a failed payout's money coming back (+).

    ``gross = platform_fee + net``; amounts are signed integer minor units. A creator's balance
    is the sum of ``net`` per currency; lines count as available from ``available_at``
    (``billing.services.earnings.balances``).
    """

    class Kind(models.TextChoices):
        SALE = "sale", "Sale"
        REFUND = "refund", "Refund"
        CHARGEBACK = "chargeback", "Chargeback"
        PAYOUT = "payout", "Payout"
        PAYOUT_RETURN = "payout_return", "Payout returned"
        PAYOUT_REVERSAL = "payout_reversal", "Payout transfer reversed"

    creator = models.ForeignKey(
        "accounts.Creator", on_delete=models.PROTECT, related_name="earnings"
    )
    order_line = models.ForeignKey(
        "marketplace.OrderLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="earnings",
    )
    refund = models.ForeignKey(
        "marketplace.Refund",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="earnings",
    )
    payout_item = models.ForeignKey(
        "PayoutItem", null=True, blank=True, on_delete=models.PROTECT, related_name="earnings"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    gross_amount = models.BigIntegerField()
    platform_fee_amount = models.BigIntegerField()
    net_amount = models.BigIntegerField()
    available_at = models.DateTimeField(help_text="When the amount may be paid out.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CreatorEarningQuerySet.as_manager()

    class Meta:
        db_table = "marketplace_creatorearning"  # kept from before the split
        ordering = ["-id"]
        indexes = [models.Index(fields=["creator", "currency", "-id"], name="mkt_earning_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["order_line"],
                condition=Q(kind="sale"),
                name="mkt_earning_one_sale_per_line",
            ),
            models.CheckConstraint(
                condition=Q(gross_amount=F("platform_fee_amount") + F("net_amount")),
                name="mkt_earning_gross_is_fee_plus_net",
            ),
            # A payout item debits the balance once and gives it back at most once.
            models.UniqueConstraint(
                fields=["payout_item", "kind"],
                condition=Q(kind__in=["payout", "payout_return"]),
                name="mkt_earning_payout_once_per_item",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=["payout", "payout_return", "payout_reversal"],
                    payout_item__isnull=False,
                )
                | Q(kind__in=["sale", "refund", "chargeback"], order_line__isnull=False),
                name="mkt_earning_kind_has_its_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.net_amount:+d} {self.currency}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Earnings cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Earnings cannot be deleted.")


# --- Payouts ----------------------------------------------------------------------------------


class PayoutBatch(models.Model):
    """The creators' available balances gathered for one payout run.

    ``pending_approval → approved → completed``, or ``pending_approval → cancelled``. Beat makes
    a batch (``billing.services.payouts``); a moderator approves it in the admin; a task then
    transfers each item through Stripe Connect.
    """

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "Awaiting approval"
        APPROVED = "approved", "Approved (transferring)"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    reference = models.CharField(max_length=40, unique=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING_APPROVAL
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "marketplace_payoutbatch"  # kept from before the split
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "payout batches"

    def __str__(self) -> str:
        return self.reference


class PayoutItemQuerySet(models.QuerySet):
    def for_user(self, user) -> PayoutItemQuerySet:
        """A creator's own items; every item for moderators; nothing for anyone else."""
        from accounts.models import is_moderator

        if is_moderator(user):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(creator__user=user)


class PayoutItem(models.Model):
    """One creator's payout in one currency within a batch: a Stripe Connect transfer.

    ``scheduled → processing → paid | failed``, and ``paid → reversed`` when the platform takes
    the whole transfer back in Stripe (a partial reversal keeps ``paid`` and counts
    ``amount_reversed``); ``skipped`` (no usable Connect account, nothing
    debited) and ``cancelled`` (the batch was cancelled) end it too. A scheduled item has already
    debited the creator's balance; failure and cancellation credit it back.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        PROCESSING = "processing", "Transferring"
        PAID = "paid", "Paid"
        REVERSED = "reversed", "Reversed"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"

    class SkipReason(models.TextChoices):
        NONE = "", "—"
        NO_CONNECT_ACCOUNT = "no_connect_account", "No Stripe Connect account"
        ONBOARDING_INCOMPLETE = "connect_onboarding_incomplete", "Connect onboarding incomplete"
        CREATOR_NOT_APPROVED = "creator_not_approved", "Creator not approved"

    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="items")
    creator = models.ForeignKey(
        "accounts.Creator", on_delete=models.PROTECT, related_name="payout_items"
    )
    currency = models.CharField(max_length=3)
    amount = models.PositiveBigIntegerField(help_text="Minor units.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED)
    skip_reason = models.CharField(
        max_length=40, choices=SkipReason.choices, default=SkipReason.NONE, blank=True
    )
    destination = models.CharField(max_length=64, blank=True, help_text="Connect account id.")
    stripe_transfer_id = models.CharField(max_length=64, blank=True)
    amount_reversed = models.PositiveBigIntegerField(
        default=0, help_text="Minor units the platform took back from the transfer (Stripe)."
    )
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PayoutItemQuerySet.as_manager()

    class Meta:
        db_table = "marketplace_payoutitem"  # kept from before the split
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["creator", "-created_at"], name="mkt_payout_item_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "creator", "currency"], name="mkt_payout_item_once_per_batch"
            ),
            models.UniqueConstraint(
                fields=["stripe_transfer_id"],
                condition=~Q(stripe_transfer_id=""),
                name="mkt_payout_transfer_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}: {self.amount} {self.currency} to {self.creator_id}"

    @property
    def idempotency_key(self) -> str:
        """Stripe replays the first answer for this key: one transfer per item, however often
        the task runs."""
        return f"fmugw-payout-item-{self.pk}"
