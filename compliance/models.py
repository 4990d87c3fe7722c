"""Compliance: DMCA complaints, takedowns and counter-notices."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from registry.models import Package

# --- DMCA takedowns ---------------------------------------------------------------------------


class TakedownComplaintQuerySet(models.QuerySet["TakedownComplaint"]):
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
        db_table = "marketplace_takedowncomplaint"  # kept from before the split
        ordering = ["-created_at", "-id"]
        verbose_name = "DMCA complaint"
        indexes = [models.Index(fields=["package", "status"], name="mkt_takedown_pkg_idx")]

    def __str__(self) -> str:
        # The audit log keeps this as the entry's target: words, not ids.
        return f"DMCA complaint #{self.pk} against package {self.package.name}"


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
        db_table = "marketplace_counternotice"  # kept from before the split
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Counter-notice to {self.complaint}"
