"""Marketplace: creators, listings (SKUs), carts, coupons, orders, licenses and the earnings ledger.

Money is integer minor units with an ISO currency code. Orders, refunds, licenses and earnings are
never deleted; the earnings ledger is append-only (refused by the model and, on PostgreSQL, by a
trigger).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.functional import cached_property

from registry.models import Package


class Creator(models.Model):
    """A user's publisher profile; approved creators may sell their packages."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUSPENDED = "suspended", "Suspended"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="creator"
    )
    display_name = models.CharField(max_length=150)
    slug = models.SlugField(max_length=80, unique=True)
    bio = models.TextField(blank=True, help_text="Markdown; sanitised when rendered.")
    website = models.URLField(blank=True)
    support_email = models.EmailField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    review_note = models.TextField(blank=True, help_text="The moderator's reason, if rejected.")
    applied_at = models.DateTimeField(default=timezone.now)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Stripe Connect (the payouts issue fills these through Connect onboarding).
    stripe_account_id = models.CharField(max_length=64, blank=True)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name", "id"]
        indexes = [models.Index(fields=["status", "applied_at"], name="mkt_creator_status_idx")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_approved(self) -> bool:
        return self.status == self.Status.APPROVED

    @property
    def can_sell(self) -> bool:
        """Paid listings need a Connect account that may take charges."""
        return self.is_approved and bool(self.stripe_account_id) and self.charges_enabled


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

    class Kind(models.TextChoices):
        DOWNLOAD = "download", "Download"
        EXECUTE_ONLY = "execute_only", "Execute only (run quota)"
        SEAT = "seat", "Per seat"
        ORG = "org", "Organisation"

    class PricingModel(models.TextChoices):
        FREE = "free", "Free"
        PAID = "paid", "One-time payment"
        SUBSCRIPTION = "subscription", "Subscription"
        TRIAL = "trial", "Trial"

    class Interval(models.TextChoices):
        NONE = "", "—"
        MONTH = "month", "Monthly"
        YEAR = "year", "Yearly"

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


class OrganisationQuerySet(models.QuerySet):
    def for_user(self, user) -> OrganisationQuerySet:
        """The organisations ``user`` belongs to (nobody else sees one)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(memberships__user=user)


class Organisation(models.Model):
    """A team that holds org licenses: its members enjoy them (up to the license's seats)."""

    name = models.CharField(max_length=150)
    slug = models.SlugField(max_length=80, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_organisations"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user in an organisation. Leaving deletes the row (the audit log keeps the history);
    members rank by ``id`` (join order) against an org license's seat cap."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organisation", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "user"], name="mkt_membership_once_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.organisation_id} ({self.role})"


class OrganisationInvitationQuerySet(models.QuerySet):
    def open(self) -> OrganisationInvitationQuerySet:
        return self.filter(accepted_at__isnull=True, cancelled_at__isnull=True)


class OrganisationInvitation(models.Model):
    """An admin's invitation of an address that has no account yet: whoever signs up with it and
    confirms it becomes a member with ``role``. Accepted or cancelled invitations keep their row."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganisationInvitationQuerySet.as_manager()

    class Meta:
        ordering = ["organisation", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "email"],
                condition=Q(accepted_at__isnull=True, cancelled_at__isnull=True),
                name="mkt_org_invitation_open_once",
            )
        ]
        indexes = [
            models.Index(
                fields=["email"],
                condition=Q(accepted_at__isnull=True, cancelled_at__isnull=True),
                name="mkt_org_invitation_open_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.organisation_id} ({self.role})"


def _org_license_q(user) -> Q:
    """Org licenses ``user`` enjoys as a member: of their organisations, and within the seat
    cap when the license has one (the first ``seats`` members by join order)."""
    earlier = (
        Membership.objects.filter(
            organisation_id=OuterRef("organisation_id"), id__lte=OuterRef("id")
        )
        .order_by()
        .values("organisation_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    ranks = (
        Membership.objects.filter(user=user)
        .annotate(rank=Subquery(earlier))
        .values_list("organisation_id", "rank")
    )
    q = Q(pk__in=[])
    for organisation_id, rank in ranks:
        q |= Q(organisation_id=organisation_id, kind="org") & (
            Q(seats__isnull=True) | Q(seats__gte=rank)
        )
    return q


class LicenseQuerySet(models.QuerySet):
    def owned_by(self, user) -> LicenseQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(owner=user)

    def seated(self, user) -> LicenseQuerySet:
        """Licenses someone else owns on which ``user`` holds a seat now (never their own)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(
            pk__in=SeatAssignment.objects.active().filter(user=user).values("license_id")
        )

    def held_by(self, user) -> LicenseQuerySet:
        """Licenses whose entitlements ``user`` enjoys: the ones they own and the ones they hold
        a seat on. Whether each is usable is ``usable()``'s business."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(
            Q(owner=user)
            | Q(pk__in=SeatAssignment.objects.active().filter(user=user).values("license_id"))
            | _org_license_q(user)
        )

    def via_organisations(self, user) -> LicenseQuerySet:
        """Org licenses someone else owns that ``user`` enjoys as a member of the organisation."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(_org_license_q(user)).exclude(owner=user)

    def usable(self, now=None) -> LicenseQuerySet:
        """Active and inside their validity window (a trial by runs with none left is over)."""
        now = now or timezone.now()
        return (
            self.filter(status=License.Status.ACTIVE, starts_at__lte=now)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .exclude(License.TRIAL_USED_UP)
        )

    def due_to_expire(self, now=None) -> LicenseQuerySet:
        """Still marked active but over: past ``expires_at``, or a trial with no runs left."""
        now = now or timezone.now()
        return self.filter(status=License.Status.ACTIVE).filter(
            Q(expires_at__lte=now) | License.TRIAL_USED_UP
        )


class License(models.Model):
    """The right an order line bought. The key is never stored: only its HMAC (``key_hash``)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="licenses"
    )
    package = models.ForeignKey(Package, on_delete=models.PROTECT, related_name="licenses")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="licenses")
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="licenses"
    )
    order_line = models.OneToOneField(
        OrderLine, null=True, blank=True, on_delete=models.PROTECT, related_name="license"
    )
    # Hex HMAC-SHA256; varchar, not char (a char(n) column compared with text skips its index).
    # Empty until the owner claims the key of a license issued by a payment webhook.
    key_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    key_hint = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    kind = models.CharField(max_length=20, choices=Listing.Kind.choices)
    pricing_model = models.CharField(max_length=20, choices=Listing.PricingModel.choices)
    can_download = models.BooleanField(default=False)
    can_execute = models.BooleanField(default=False)
    runs_total = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    runs_remaining = models.PositiveIntegerField(null=True, blank=True)
    max_activations = models.PositiveIntegerField(default=3)
    seats = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Seat licenses: named users, the owner included. Org licenses: members "
        "entitled (empty: all).",
    )
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="licenses",
        help_text="Org licenses: the organisation whose members it entitles.",
    )
    activation_count = models.PositiveIntegerField(default=0)
    terms = models.TextField(help_text="The listing's license template at issue time.")
    starts_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(max_length=255, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    key_rotated_at = models.DateTimeField(null=True, blank=True)
    # Subscription SKUs: the Stripe subscription that renews the license after the period its
    # order paid, its last known status, and the end of the last paid period (``expires_at``
    # may run past it by the grace period while a renewal payment is failing).
    subscription_id = models.CharField(max_length=255, blank=True)
    subscription_status = models.CharField(max_length=32, blank=True)
    paid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # A trial by runs ends with its last run (trials by days end at ``expires_at``).
    TRIAL_USED_UP = Q(pricing_model="trial", runs_total__isnull=False, runs_remaining=0)

    objects = LicenseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "package", "status"], name="mkt_license_owner_pkg_idx"),
            models.Index(
                fields=["subscription_id"],
                condition=~Q(subscription_id=""),
                name="mkt_license_subscription_idx",
            ),
            # The expiry sweep: active licenses with an end date.
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active", expires_at__isnull=False),
                name="mkt_license_active_expiry_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "listing"],
                condition=Q(pricing_model="trial"),
                name="mkt_license_one_trial_per_buyer",
            ),
            models.CheckConstraint(
                condition=Q(activation_count__lte=F("max_activations")),
                name="mkt_license_activations_within_max",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key_hint or 'license'} ({self.package_id}, {self.kind})"

    @property
    def entitlements(self) -> list[str]:
        return [
            name
            for name, on in (("download", self.can_download), ("execute", self.can_execute))
            if on
        ]

    @property
    def trial_used_up(self) -> bool:
        return (
            self.pricing_model == Listing.PricingModel.TRIAL
            and self.runs_total is not None
            and self.runs_remaining == 0
        )

    def effective_status(self, now=None) -> str:
        """The status a check sees: an active license past its window, or a trial with no runs
        left, is expired (before the beat task marks it so)."""
        now = now or timezone.now()
        if self.status == self.Status.ACTIVE and (
            (self.expires_at and self.expires_at <= now) or self.trial_used_up
        ):
            return self.Status.EXPIRED
        return self.status


class Activation(models.Model):
    """A machine a license is activated on; at most ``max_activations`` active at a time."""

    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="activations")
    fingerprint = models.CharField(max_length=200)
    label = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    activated_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-activated_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["license", "fingerprint"],
                condition=Q(deactivated_at__isnull=True),
                name="mkt_activation_one_active_per_machine",
            )
        ]

    def __str__(self) -> str:
        return f"{self.fingerprint[:16]} on license {self.license_id}"

    @property
    def is_active(self) -> bool:
        return self.deactivated_at is None


class SeatAssignmentQuerySet(models.QuerySet):
    def active(self) -> SeatAssignmentQuerySet:
        return self.filter(removed_at__isnull=True)

    def for_user(self, user) -> SeatAssignmentQuerySet:
        """The seats a user may see: those on licenses they own, and their own."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(Q(license__owner=user) | Q(user=user))


class SeatAssignment(models.Model):
    """A named user's seat on a seat license. ``user`` is empty while the invitation waits for
    the email's owner to sign up and verify the address; it then takes the seat. A removed seat
    keeps its row (``removed_at``) for the record; entitlements read active, bound seats only."""

    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="seat_assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="seat_assignments",
    )
    email = models.EmailField()
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    bound_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SeatAssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["user", "license"],
                condition=Q(removed_at__isnull=True),
                name="mkt_seat_active_user_idx",
            ),
            models.Index(
                fields=["email"],
                condition=Q(removed_at__isnull=True, user__isnull=True),
                name="mkt_seat_pending_email_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["license", "email"],
                condition=Q(removed_at__isnull=True),
                name="mkt_seat_one_active_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} on license {self.license_id}"

    @property
    def is_pending(self) -> bool:
        return self.user_id is None


class RunConsumption(models.Model):
    """One run taken from a license's quota, by job reference (so each job counts once)."""

    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="run_consumptions")
    job_reference = models.CharField(max_length=100)
    consumed_at = models.DateTimeField(default=timezone.now)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-consumed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["license", "job_reference"], name="mkt_run_once_per_job"
            )
        ]

    def __str__(self) -> str:
        return f"run {self.job_reference} on license {self.license_id}"


class LicenseRenewal(models.Model):
    """A subscription invoice that paid a license's next period: one per invoice, with the
    renewal order that carries the money (and the creator's earning)."""

    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="renewals")
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
    (``marketplace.services.earnings.balances``).
    """

    class Kind(models.TextChoices):
        SALE = "sale", "Sale"
        REFUND = "refund", "Refund"
        CHARGEBACK = "chargeback", "Chargeback"
        PAYOUT = "payout", "Payout"
        PAYOUT_RETURN = "payout_return", "Payout returned"
        PAYOUT_REVERSAL = "payout_reversal", "Payout transfer reversed"

    creator = models.ForeignKey(Creator, on_delete=models.PROTECT, related_name="earnings")
    order_line = models.ForeignKey(
        OrderLine, null=True, blank=True, on_delete=models.PROTECT, related_name="earnings"
    )
    refund = models.ForeignKey(
        Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="earnings"
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


# --- Catalog: categories, tags and the search document ---------------------------------------


class Category(models.Model):
    """A node of the catalog's category tree; ``path`` ("mechanics/vehicles") is kept from the
    parents' slugs. Packages name their category by path, slug or name (``Package.category``)."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=255, unique=True, editable=False)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["path"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["parent", "slug"], name="mkt_category_slug_per_parent")
        ]

    def __str__(self) -> str:
        return self.path

    def save(self, *args, **kwargs):
        self.path = f"{self.parent.path}/{self.slug}" if self.parent_id else self.slug
        super().save(*args, **kwargs)
        for child in self.children.all():  # a moved or renamed node moves its subtree
            child.save()

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("catalog-category", kwargs={"path": self.path})

    @property
    def depth(self) -> int:
        return self.path.count("/")


class Tag(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=60)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class PackageTag(models.Model):
    """A package's tag (from ``Package.tags``), kept by the catalog index for filtering."""

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="+")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="package_tags")

    class Meta:
        ordering = ["package", "tag"]
        constraints = [
            models.UniqueConstraint(fields=["tag", "package"], name="mkt_package_tag_once")
        ]

    def __str__(self) -> str:
        return f"{self.package_id}:{self.tag_id}"


class PackageSearch(models.Model):
    """The catalog's row per package: the stored search document (a weighted ``tsvector`` with a
    GIN index on PostgreSQL), the facets the filters use, and the counters the sorts use.

    Derived data only: ``manage.py rebuild_search_index`` recreates every row from the registry,
    the listings, the reviews and the activity tables. The text columns feed the document on
    PostgreSQL and the ``icontains`` fallback on SQLite.
    """

    package = models.OneToOneField(
        Package, primary_key=True, on_delete=models.CASCADE, related_name="search"
    )
    creator = models.ForeignKey(
        Creator, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    latest_version = models.ForeignKey(
        "registry.PackageVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The newest validated, not yanked version (what the card shows).",
    )
    # Search text (weights A, B, C, D) and the document built from it.
    title = models.CharField(max_length=255, blank=True)
    keywords = models.TextField(blank=True, help_text="Tags, creator, category, model name.")
    variables = models.TextField(blank=True, help_text="Variable names, as searchable phrases.")
    summary = models.TextField(blank=True)
    body = models.TextField(blank=True)
    document = SearchVectorField(null=True, blank=True, help_text="Everything: what matches.")
    # Ranking reads a vector per candidate: only the short fields relevance is about (title,
    # keywords, summary), so it stays small and inline, never a detoasted description or
    # thousands of variable names.
    rank_document = SearchVectorField(
        null=True, blank=True, help_text="Title, keywords, summary: what ranks the matches."
    )
    # Facets of the latest validated version.
    listed = models.BooleanField(
        default=False, help_text="The package is listed: a ranked search reads this, not a join."
    )
    fmi_version = models.CharField(max_length=8, blank=True)
    supports_cs = models.BooleanField(default=False)
    supports_me = models.BooleanField(default=False)
    platform_linux = models.BooleanField(default=False)
    platform_windows = models.BooleanField(default=False)
    platform_macos = models.BooleanField(default=False)
    certified = models.BooleanField(default=False)
    validated = models.BooleanField(default=False)
    # Pricing, from the active listings (and ``Package.is_free``).
    has_free = models.BooleanField(default=False)
    has_paid = models.BooleanField(default=False)
    has_subscription = models.BooleanField(default=False)
    has_trial = models.BooleanField(default=False)
    min_price_amount = models.PositiveBigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    # Ratings of the visible reviews (kept by marketplace.services.reviews).
    rating_count = models.PositiveIntegerField(default=0)
    rating_avg = models.FloatField(default=0)
    rating_1 = models.PositiveIntegerField(default=0)
    rating_2 = models.PositiveIntegerField(default=0)
    rating_3 = models.PositiveIntegerField(default=0)
    rating_4 = models.PositiveIntegerField(default=0)
    rating_5 = models.PositiveIntegerField(default=0)
    # Activity (refreshed by a periodic task from the activity tables).
    downloads_count = models.PositiveIntegerField(default=0)
    runs_count = models.PositiveIntegerField(default=0)
    purchases_count = models.PositiveIntegerField(default=0)
    views_count = models.PositiveIntegerField(default=0)
    popularity = models.PositiveIntegerField(default=0, help_text="downloads + runs + purchases")
    trending_score = models.FloatField(default=0, help_text="Weighted activity of the last days.")
    featured = models.BooleanField(default=False, help_text="Shown on the home page.")
    indexed_at = models.DateTimeField(null=True, blank=True)
    stats_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["package"]
        verbose_name = "catalog entry"
        verbose_name_plural = "catalog entries"
        indexes = [
            GinIndex(fields=["document"], name="mkt_search_document_gin"),
            models.Index(fields=["category"], name="mkt_search_category_idx"),
            models.Index(fields=["-popularity"], name="mkt_search_popularity_idx"),
            models.Index(fields=["-trending_score"], name="mkt_search_trending_idx"),
            models.Index(fields=["-rating_avg", "-rating_count"], name="mkt_search_rating_idx"),
            models.Index(
                fields=["featured"], condition=Q(featured=True), name="mkt_search_featured_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def distribution(self) -> list[tuple[int, int, int]]:
        """(stars, count, percent of reviews) from 5 down to 1."""
        total = self.rating_count or 1
        return [
            (stars, count, round(100 * count / total))
            for stars, count in (
                (5, self.rating_5),
                (4, self.rating_4),
                (3, self.rating_3),
                (2, self.rating_2),
                (1, self.rating_1),
            )
        ]


# --- Reviews ----------------------------------------------------------------------------------


class ReviewQuerySet(models.QuerySet):
    def visible(self) -> ReviewQuerySet:
        """What the package page shows and the rating summary counts. A reported review stays
        up until a moderator decides (a report alone must not silence a review)."""
        return self.filter(status__in=Review.VISIBLE_STATUSES)


class Review(models.Model):
    """A rating (1–5) with text by someone who bought or ran the package; one per user and
    package, editable. ``published → reported → published | hidden | removed``, or ``pending``
    while held for moderation."""

    class Status(models.TextChoices):
        PUBLISHED = "published", "Published"
        PENDING = "pending", "Pending moderation"
        HIDDEN = "hidden", "Hidden"
        REPORTED = "reported", "Reported"
        REMOVED = "removed", "Removed"

    VISIBLE_STATUSES = ("published", "reported")

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="reviews")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews"
    )
    version = models.ForeignKey(
        "registry.PackageVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The version that was current when the review was written.",
    )
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    pros = models.TextField(blank=True)
    cons = models.TextField(blank=True)
    verified_purchase = models.BooleanField(default=False)
    ran_model = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PUBLISHED)
    moderation_note = models.TextField(blank=True)
    helpful_count = models.PositiveIntegerField(default=0)
    not_helpful_count = models.PositiveIntegerField(default=0)
    report_count = models.PositiveIntegerField(default=0)
    creator_response = models.TextField(blank=True)
    creator_responded_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["package", "status", "-created_at"], name="mkt_review_pkg_idx"),
            models.Index(fields=["status", "-updated_at"], name="mkt_review_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["package", "author"], name="mkt_review_once_per_user"),
            models.CheckConstraint(
                condition=Q(rating__gte=1, rating__lte=5), name="mkt_review_rating_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.title}"

    @property
    def is_visible(self) -> bool:
        return self.status in self.VISIBLE_STATUSES


class ReviewVote(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    helpful = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["review", "user"], name="mkt_review_vote_once")
        ]

    def __str__(self) -> str:
        return f"{'+' if self.helpful else '-'} on review {self.review_id}"


class ReviewReport(models.Model):
    """Someone's abuse report on a review; moderators resolve or dismiss it in the admin."""

    class Reason(models.TextChoices):
        SPAM = "spam", "Spam or advertising"
        ABUSE = "abuse", "Abusive or offensive"
        FAKE = "fake", "Fake or misleading"
        OFF_TOPIC = "off_topic", "Not about this model"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved (action taken)"
        DISMISSED = "dismissed", "Dismissed"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    details = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["review", "reporter"], name="mkt_review_report_once")
        ]

    def __str__(self) -> str:
        return f"report on review {self.review_id} ({self.reason})"


class WishlistItem(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wishlist"
    )
    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "package"], name="mkt_wishlist_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ♥ {self.package_id}"


# --- Analytics --------------------------------------------------------------------------------


class AnalyticsEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Analytics events are append-only.")


class AnalyticsEvent(models.Model):
    """One thing that happened (a page view, a search, a purchase), appended after the response
    (``marketplace.services.analytics``). No foreign-key constraints: writes stay cheap and
    events outlive what they name."""

    class Kind(models.TextChoices):
        PACKAGE_VIEW = "package.view", "Package viewed"
        PACKAGE_DOWNLOAD = "package.download", "Package downloaded"
        PACKAGE_RUN = "package.run", "Package run"
        PACKAGE_PURCHASE = "package.purchase", "Package purchased"
        SEARCH = "search.query", "Search"
        REVIEW = "review.create", "Review written"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    package = models.ForeignKey(
        Package,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    user_id = models.BigIntegerField(null=True, blank=True)
    session = models.CharField(max_length=64, blank=True, help_text="A hash of the session key.")
    query = models.CharField(max_length=200, blank=True)
    result_count = models.IntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    referrer = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AnalyticsEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["kind", "-created_at"], name="mkt_event_kind_idx"),
            models.Index(fields=["package", "kind", "-created_at"], name="mkt_event_pkg_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.package_id or self.query}"


# --- Payouts ----------------------------------------------------------------------------------


class PayoutBatch(models.Model):
    """The creators' available balances gathered for one payout run.

    ``pending_approval → approved → completed``, or ``pending_approval → cancelled``. Beat makes
    a batch (``marketplace.services.payouts``); a moderator approves it in the admin; a task then
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
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "payout batches"

    def __str__(self) -> str:
        return self.reference


class PayoutItemQuerySet(models.QuerySet):
    def for_user(self, user) -> PayoutItemQuerySet:
        """A creator's own items; every item for moderators; nothing for anyone else."""
        from registry.models import is_moderator

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
    creator = models.ForeignKey(Creator, on_delete=models.PROTECT, related_name="payout_items")
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


# --- DMCA takedowns ---------------------------------------------------------------------------


class TakedownComplaintQuerySet(models.QuerySet):
    def active(self) -> TakedownComplaintQuerySet:
        """Complaints awaiting the end of their takedown."""
        return self.filter(status__in=TakedownComplaint.ACTIVE_STATUSES)

    def for_user(self, user) -> TakedownComplaintQuerySet:
        """Moderators see all; a package owner sees complaints a moderator acted on; whoever
        filed a complaint while signed in sees it."""
        from registry.models import is_moderator

        if is_moderator(user):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        acted = ~Q(status__in=["submitted", "rejected"])
        return self.filter((Q(package__owner=user) & acted) | Q(submitted_by=user))


class TakedownComplaint(models.Model):
    """A DMCA notice against a package.

    ``submitted → rejected``, or ``submitted → taken_down [→ counter_notice] → restored |
    removed``. While taken down the package is unlisted, downloads and runs are refused
    (``package_taken_down``) and its licenses are suspended; restoring brings both back.
    """

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Received"
        REJECTED = "rejected", "Rejected"
        TAKEN_DOWN = "taken_down", "Taken down"
        COUNTER_NOTICE = "counter_notice", "Counter-notice filed"
        RESTORED = "restored", "Restored"
        REMOVED = "removed", "Removed"

    # Down, awaiting a decision; downloads and runs stay refused while one of BLOCKING_STATUSES.
    ACTIVE_STATUSES = ("taken_down", "counter_notice")
    BLOCKING_STATUSES = ("taken_down", "counter_notice", "removed")

    package = models.ForeignKey(Package, on_delete=models.PROTECT, related_name="takedowns")
    complainant_name = models.CharField(max_length=200)
    complainant_email = models.EmailField()
    work_description = models.TextField(help_text="The copyrighted work claimed.")
    infringement_details = models.TextField(
        blank=True, help_text="How the package infringes it (files, variables, text)."
    )
    good_faith = models.BooleanField(
        help_text="Good-faith belief that the use is not authorised by the owner or the law."
    )
    accurate = models.BooleanField(
        help_text="The notice is accurate and, under penalty of perjury, the complainant is "
        "authorised to act for the owner."
    )
    signature = models.CharField(max_length=200, help_text="The complainant's typed full name.")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitter_ip = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUBMITTED)
    moderator_note = models.TextField(
        blank=True, help_text="Shown to the creator when the package is taken down or restored."
    )
    package_status_before = models.CharField(max_length=20, blank=True, editable=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TakedownComplaintQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "DMCA complaint"
        indexes = [models.Index(fields=["package", "status"], name="mkt_takedown_pkg_idx")]

    def __str__(self) -> str:
        return f"DMCA #{self.pk} on {self.package_id} ({self.status})"


class CounterNotice(models.Model):
    """The creator's answer to a takedown: the material was removed by mistake."""

    complaint = models.OneToOneField(
        TakedownComplaint, on_delete=models.PROTECT, related_name="counter_notice"
    )
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    full_name = models.CharField(max_length=200)
    contact_email = models.EmailField()
    address = models.TextField(help_text="Postal address.")
    statement = models.TextField(
        help_text="Why the package was removed by mistake or misidentification."
    )
    good_faith = models.BooleanField(
        help_text="Under penalty of perjury: a good-faith belief of mistake or misidentification."
    )
    consent_to_jurisdiction = models.BooleanField()
    signature = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"counter-notice to DMCA #{self.complaint_id}"
