from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse


def is_moderator(user) -> bool:
    from accounts.models import MODERATORS_GROUP

    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_is_moderator_cache", None)
    if cached is None:
        cached = user.groups.filter(name=MODERATORS_GROUP).exists()
        user._is_moderator_cache = cached
    return cached


class PackageQuerySet(models.QuerySet):
    def listed(self) -> PackageQuerySet:
        return self.filter(status=Package.Status.LISTED)

    def visible_to(self, user) -> PackageQuerySet:
        """Listed packages for everyone; the owner's own at any status; all for moderators."""
        if is_moderator(user):
            return self
        if getattr(user, "is_authenticated", False):
            return self.filter(Q(status=Package.Status.LISTED) | Q(owner=user))
        return self.listed()

    def owned_by(self, user) -> PackageQuerySet:
        return self.filter(owner=user) if user.is_authenticated else self.none()


class Package(models.Model):
    """A model offered in the catalog; its files are its versions."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        LISTED = "listed", "Listed"
        REJECTED = "rejected", "Rejected"
        UNLISTED = "unlisted", "Unlisted"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="packages"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    summary = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True, help_text="Markdown; sanitised when rendered.")
    category = models.CharField(max_length=100, blank=True)
    tags = models.JSONField(default=list, blank=True)
    license_text = models.TextField(blank=True)
    is_free = models.BooleanField(
        default=False, help_text="Anyone may download and run listed free packages."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    review_note = models.TextField(
        blank=True, help_text="The moderator's reason, shown to the creator."
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    listed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PackageQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["status", "-listed_at"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("package-detail", kwargs={"slug": self.slug})


class PackageVersionQuerySet(models.QuerySet):
    def visible_to(self, user) -> PackageVersionQuerySet:
        return self.filter(package__in=Package.objects.visible_to(user))


class PackageVersion(models.Model):
    """One uploaded ``.fmu`` file of a package, with what inspection learnt about it."""

    class ValidationStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"

    package = models.ForeignKey(Package, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=64)
    changelog = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The stored artifact.
    artifact_key = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.BigIntegerField()
    original_filename = models.CharField(max_length=255, blank=True)
    # What inspection found (the model card).
    fmi_version = models.CharField(max_length=8, db_index=True)
    model_name = models.CharField(max_length=255)
    instantiation_token = models.CharField(max_length=255, blank=True)
    generation_tool = models.CharField(max_length=255, blank=True)
    generation_date = models.CharField(max_length=64, blank=True)
    model_description = models.TextField(blank=True)
    supports_model_exchange = models.BooleanField(default=False)
    supports_co_simulation = models.BooleanField(default=False)
    supports_scheduled_execution = models.BooleanField(default=False)
    platforms = models.JSONField(default=list, blank=True)
    has_sources = models.BooleanField(default=False)
    default_experiment = models.JSONField(default=dict, blank=True)
    model_description_sha256 = models.CharField(max_length=64, blank=True)
    inspection = models.JSONField(default=dict, blank=True)
    # Security scan and validation.
    scan_report = models.JSONField(default=dict, blank=True)
    risk_score = models.PositiveSmallIntegerField(null=True, blank=True)
    validation_status = models.CharField(
        max_length=20, choices=ValidationStatus.choices, default=ValidationStatus.PENDING
    )
    certified = models.BooleanField(default=False)
    certified_at = models.DateTimeField(null=True, blank=True)
    attestation = models.JSONField(null=True, blank=True)
    # Lifecycle: yanked and deprecated versions stay downloadable to existing licensees.
    yanked_at = models.DateTimeField(null=True, blank=True)
    yank_reason = models.TextField(blank=True)
    deprecated_at = models.DateTimeField(null=True, blank=True)
    deprecation_reason = models.TextField(blank=True)
    download_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PackageVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["package", "version"], name="version_unique_per_package"
            ),
            models.UniqueConstraint(fields=["package", "sha256"], name="file_unique_per_package"),
        ]

    def __str__(self) -> str:
        return f"{self.package.slug} {self.version}"

    @property
    def kinds(self) -> list[str]:
        kinds = []
        if self.supports_co_simulation:
            kinds.append("CS")
        if self.supports_model_exchange:
            kinds.append("ME")
        if self.supports_scheduled_execution:
            kinds.append("SE")
        return kinds


class Variable(models.Model):
    """A variable of a version's model description, for the model card and search."""

    version = models.ForeignKey(PackageVersion, on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(max_length=500)
    value_reference = models.BigIntegerField()
    causality = models.CharField(max_length=32, blank=True, db_index=True)
    variability = models.CharField(max_length=32, blank=True)
    initial = models.CharField(max_length=32, blank=True)
    type = models.CharField(max_length=32)
    unit = models.CharField(max_length=100, blank=True)
    start = models.CharField(max_length=255, blank=True)
    min = models.CharField(max_length=64, blank=True)
    max = models.CharField(max_length=64, blank=True)
    nominal = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["version", "id"]
        indexes = [models.Index(fields=["version", "name"])]

    def __str__(self) -> str:
        return self.name
