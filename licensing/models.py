"""Licensing: licenses, activations, seats and run consumption.

A license is the right an order line (or a free claim) gave; its key is never stored, only its
HMAC. Licenses are never deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.models import Membership
from licensing import status_reasons
from registry.models import Package


class LicenseKind(models.TextChoices):
    """What a license grants; a listing sells licenses of one kind."""

    DOWNLOAD = "download", "Download"
    EXECUTE_ONLY = "execute_only", "Execute only (run quota)"
    SEAT = "seat", "Per seat"
    ORG = "org", "Organisation"


class PricingModel(models.TextChoices):
    FREE = "free", "Free"
    PAID = "paid", "One-time payment"
    SUBSCRIPTION = "subscription", "Subscription"
    TRIAL = "trial", "Trial"


class BillingInterval(models.TextChoices):
    NONE = "", "—"
    MONTH = "month", "Monthly"
    YEAR = "year", "Yearly"


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


class LicenseQuerySet(models.QuerySet["License"]):
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
    listing = models.ForeignKey(
        "marketplace.Listing", on_delete=models.PROTECT, related_name="licenses"
    )
    order = models.ForeignKey(
        "marketplace.Order",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="licenses",
    )
    order_line = models.OneToOneField(
        "marketplace.OrderLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="license",
    )
    # Hex HMAC-SHA256; varchar, not char (a char(n) column compared with text skips its index).
    # Empty until the owner claims the key of a license issued by a payment webhook.
    key_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    key_hint = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    kind = models.CharField(max_length=20, choices=LicenseKind.choices)
    pricing_model = models.CharField(max_length=20, choices=PricingModel.choices)
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
        "accounts.Organisation",
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
        db_table = "marketplace_license"  # kept from before the split
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
        # The audit log keeps this as the entry's target: words, not ids.
        hint = f" {self.key_hint}" if self.key_hint else ""
        return f"License{hint} ({self.get_kind_display()}) for package {self.package.name}"

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
            self.pricing_model == PricingModel.TRIAL
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

    @property
    def status_reason_text(self) -> str:
        """``status_reason`` in words for the holder (``dmca_restored`` → a sentence)."""
        return status_reasons.describe(self.status_reason)


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
        db_table = "marketplace_activation"  # kept from before the split
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


class SeatAssignmentQuerySet(models.QuerySet["SeatAssignment"]):
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
        db_table = "marketplace_seatassignment"  # kept from before the split
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
        db_table = "marketplace_runconsumption"  # kept from before the split
        ordering = ["-consumed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["license", "job_reference"], name="mkt_run_once_per_job"
            )
        ]

    def __str__(self) -> str:
        return f"run {self.job_reference} on license {self.license_id}"
