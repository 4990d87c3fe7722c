"""Commerce: listings (SKUs), carts, coupons, orders, renewals and refunds.

Money is integer minor units with an ISO currency code. Orders and refunds are never deleted.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.functional import cached_property

from licensing.models import BillingInterval, LicenseKind, PricingModel
from registry.models import Package


class ListingQuerySet(models.QuerySet):
    def active(self) -> ListingQuerySet:
        return self.filter(is_active=True)

    def purchasable(self) -> ListingQuerySet:
        return self.filter(is_active=True, package__status=Package.Status.LISTED)


# A listing's numbers are bounded: a license's expiry is its start plus a day count (far
# counts overflow the date), prices go to Stripe (at most 8 digits in minor units), and no real
# offer needs more.
LISTING_MAX_PRICE = 99_999_999
LISTING_MAX_DAYS = 3650
LISTING_MAX_TRIAL_DAYS = 365
LISTING_MAX_RUNS = 1_000_000
LISTING_MAX_MACHINES = 10_000


class Listing(models.Model):
    """A SKU of a package: what the buyer gets (kind) and on what terms (pricing model)."""

    # The license terms a listing sells are licensing's vocabulary.
    Kind = LicenseKind
    PricingModel = PricingModel
    Interval = BillingInterval

    package = models.ForeignKey(Package, on_delete=models.PROTECT, related_name="listings")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    pricing_model = models.CharField(max_length=20, choices=PricingModel.choices)
    price_amount = models.PositiveBigIntegerField(
        default=0,
        validators=[MaxValueValidator(LISTING_MAX_PRICE)],
        help_text="Minor units (cents).",
    )
    currency = models.CharField(max_length=3, default="EUR")
    billing_interval = models.CharField(
        max_length=10, choices=Interval.choices, default=Interval.NONE, blank=True
    )
    trial_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(LISTING_MAX_TRIAL_DAYS)]
    )
    trial_runs = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(LISTING_MAX_RUNS)]
    )
    run_quota = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(LISTING_MAX_RUNS)],
        help_text="Runs per license (execute-only).",
    )
    max_activations = models.PositiveIntegerField(
        default=3,
        validators=[MaxValueValidator(LISTING_MAX_MACHINES)],
        help_text="Machines per license (seats for seat and org SKUs).",
    )
    seats = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(LISTING_MAX_MACHINES)],
        help_text="Seat SKUs: named users per license, the owner included (empty: as many as "
        "max_activations). Org SKUs: members entitled per license (empty: all).",
    )
    validity_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(LISTING_MAX_DAYS)],
        help_text="Empty: perpetual (one-time) licenses.",
    )
    license_template = models.TextField(help_text="Markdown; snapshotted into every license.")
    revenue_share_bps = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(10000)],
        help_text="The creator's share in basis points; empty: 10000 - PLATFORM_FEE_BPS.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ListingQuerySet.as_manager()

    class Meta:
        ordering = ["package", "price_amount", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pricing_model__in=["free", "trial"], price_amount=0)
                | Q(pricing_model__in=["paid", "subscription"], price_amount__gt=0),
                name="mkt_listing_price_matches_model",
            ),
            models.CheckConstraint(
                condition=Q(revenue_share_bps__isnull=True) | Q(revenue_share_bps__lte=10000),
                name="mkt_listing_share_bps_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.package.slug}: {self.name}"

    @property
    def is_free(self) -> bool:
        return self.price_amount == 0


class Coupon(models.Model):
    """A discount code: percent or amount off, for one package or (moderators only) all."""

    class Kind(models.TextChoices):
        PERCENT = "percent", "Percent off"
        AMOUNT = "amount", "Amount off"

    code = models.CharField(max_length=40, unique=True, help_text="Stored upper-case.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    percent_off = models.PositiveSmallIntegerField(null=True, blank=True)
    amount_off = models.PositiveBigIntegerField(null=True, blank=True, help_text="Minor units.")
    currency = models.CharField(max_length=3, blank=True)
    package = models.ForeignKey(
        Package,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="coupons",
        help_text="Empty: a global coupon (every paid line).",
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True)
    times_used = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(times_used__lte=F("max_uses")),
                name="mkt_coupon_uses_within_limit",
            ),
            models.CheckConstraint(
                condition=Q(kind="percent", percent_off__gte=1, percent_off__lte=100)
                | Q(kind="amount", amount_off__gte=1),
                name="mkt_coupon_value_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Cart(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cart"
    )
    coupon = models.ForeignKey(
        Coupon, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "id"]

    def __str__(self) -> str:
        return f"cart of {self.user}"


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "listing"], name="mkt_cart_listing_once")
        ]

    def __str__(self) -> str:
        return str(self.listing)


class OrderQuerySet(models.QuerySet):
    def owned_by(self, user) -> OrderQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(buyer=user)

    def delete(self):
        raise PermissionError("Orders are never deleted.")


class Order(models.Model):
    """What a buyer checked out. ``pending → paid → refunded | partially_refunded``, or
    ``pending → cancelled | failed``; never deleted."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending payment"
        PAID = "paid", "Paid"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Payment failed"

    number = models.CharField(max_length=32, unique=True)
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    currency = models.CharField(max_length=3)
    subtotal_amount = models.PositiveBigIntegerField()
    discount_amount = models.PositiveBigIntegerField(default=0)
    total_amount = models.PositiveBigIntegerField()
    refunded_amount = models.PositiveBigIntegerField(default=0)
    coupon = models.ForeignKey(
        Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    coupon_code = models.CharField(max_length=40, blank=True)
    payment_reference = models.CharField(
        max_length=255, blank=True, help_text="The payment provider's id (Stripe PaymentIntent)."
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was cancelled, failed or fully refunded."
    )
    status_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["buyer", "-created_at"], name="mkt_order_buyer_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["payment_reference"],
                condition=~Q(payment_reference=""),
                name="mkt_order_payment_reference_unique",
            ),
            models.CheckConstraint(
                condition=Q(total_amount=F("subtotal_amount") - F("discount_amount")),
                name="mkt_order_total_is_subtotal_less_discount",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=F("total_amount")),
                name="mkt_order_refund_within_total",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @staticmethod
    def new_number() -> str:
        return f"FG-{timezone.now():%Y%m%d}-{secrets.token_hex(4).upper()}"

    def delete(self, *args, **kwargs):
        raise PermissionError("Orders are never deleted.")

    @property
    def refundable_amount(self) -> int:
        return self.total_amount - self.refunded_amount

    @cached_property
    def renews(self) -> bool:
        """A subscription SKU on the order renews at a price: the card that pays the order (or,
        with nothing to pay now, the card the buyer gives) is kept to pay the renewals."""
        return self.lines.filter(
            pricing_model=Listing.PricingModel.SUBSCRIPTION, unit_amount__gt=0
        ).exists()

    @property
    def awaits_payment(self) -> bool:
        """Pending with money to take, or (a subscription fully discounted for its first
        period) a card to keep for its renewals."""
        return self.status == self.Status.PENDING and (self.total_amount > 0 or self.renews)


class OrderLine(models.Model):
    """One SKU of an order, with the price and terms as they were at checkout."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="lines")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="order_lines")
    package = models.ForeignKey(Package, on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=255)
    kind = models.CharField(max_length=20, choices=Listing.Kind.choices)
    pricing_model = models.CharField(max_length=20, choices=Listing.PricingModel.choices)
    currency = models.CharField(max_length=3)
    unit_amount = models.PositiveBigIntegerField()
    discount_amount = models.PositiveBigIntegerField(default=0)
    amount = models.PositiveBigIntegerField(help_text="unit_amount - discount_amount")
    refunded_amount = models.PositiveBigIntegerField(default=0)
    platform_fee_bps = models.PositiveIntegerField(help_text="The platform's cut at checkout.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount=F("unit_amount") - F("discount_amount")),
                name="mkt_line_amount_is_unit_less_discount",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=F("amount")),
                name="mkt_line_refund_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order.number}: {self.description}"


class LicenseRenewal(models.Model):
    """A subscription invoice that paid a license's next period: one per invoice, with the
    renewal order that carries the money (and the creator's earning)."""

    license = models.ForeignKey(
        "licensing.License", on_delete=models.PROTECT, related_name="renewals"
    )
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="renewal")
    invoice_id = models.CharField(max_length=255, unique=True)
    period_end = models.DateTimeField()
    paid_from = models.DateTimeField(
        null=True, blank=True, help_text="The license's paid_until before this renewal."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"renewal {self.invoice_id} of license {self.license_id}"


class Refund(models.Model):
    """Money given back on an order (a refund or a chargeback); never changed or deleted."""

    class Kind(models.TextChoices):
        REFUND = "refund", "Refund"
        CHARGEBACK = "chargeback", "Chargeback"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.REFUND)
    amount = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=255)
    reference = models.CharField(
        max_length=255, blank=True, help_text="The provider's refund or dispute id."
    )
    allocation = models.JSONField(default=dict, help_text="{order line id: amount}")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "reference"],
                condition=~Q(reference=""),
                name="mkt_refund_reference_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} on {self.order_id}"
