from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from accounts.models import is_moderator

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User


class PackageQuerySet(models.QuerySet["Package"]):
    def listed(self) -> PackageQuerySet:
        return self.filter(status=Package.Status.LISTED)

    def visible_to(self, user: User | AnonymousUser) -> PackageQuerySet:
        """Listed packages for everyone; the owner's own at any status; all for moderators."""
        if is_moderator(user):
            return self
        if getattr(user, "is_authenticated", False):
            return self.filter(Q(status=Package.Status.LISTED) | Q(owner=user))
        return self.listed()

    def owned_by(self, user: User | AnonymousUser) -> PackageQuerySet:
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
        indexes = [
            models.Index(fields=["status", "-listed_at"]),
            # The ids of listed packages, read index-only: the catalog's searches join on it to
            # check visibility without visiting the (wide) package rows.
            models.Index(
                fields=["id"], condition=Q(status="listed"), name="registry_package_listed_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("package-detail", kwargs={"slug": self.slug})


class PackageVersionQuerySet(models.QuerySet["PackageVersion"]):
    def published(self) -> PackageVersionQuerySet:
        """Versions the public sees: of listed packages, validated, not yanked."""
        return self.filter(
            package__status=Package.Status.LISTED,
            validation_status=PackageVersion.ValidationStatus.PASSED,
            yanked_at__isnull=True,
        )

    def visible_to(self, user: User | AnonymousUser) -> PackageVersionQuerySet:
        """Published versions; every version of your own packages; all for moderators."""
        if is_moderator(user):
            return self
        published = Q(
            package__status=Package.Status.LISTED,
            validation_status=PackageVersion.ValidationStatus.PASSED,
            yanked_at__isnull=True,
        )
        if getattr(user, "is_authenticated", False):
            return self.filter(published | Q(package__owner=user))
        return self.filter(published)


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
    # What the latest validation found that does not stop the model from running (fmpy runs
    # through it): [{"code": ..., "detail": ...}]. A passed version with warnings is
    # "validated with warnings".
    validation_warnings = models.JSONField(default=list, blank=True)
    # Wall seconds of the latest validation's successful smoke run of the default experiment:
    # jobs that ask for no timeout get one that fits it.
    smoke_run_seconds = models.FloatField(null=True, blank=True)
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
    def validated_with_warnings(self) -> bool:
        return self.validation_status == self.ValidationStatus.PASSED and bool(
            self.validation_warnings
        )

    @property
    def runnable_kinds(self) -> list[str]:
        """The interfaces the gateway's runner can execute (not Scheduled Execution)."""
        return [
            kind
            for kind, offered in (
                ("CoSimulation", self.supports_co_simulation),
                ("ModelExchange", self.supports_model_exchange),
            )
            if offered
        ]

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


class TestVector(models.Model):
    """A creator's reference result: run with these settings, outputs must match the CSV."""

    version = models.ForeignKey(
        PackageVersion, on_delete=models.CASCADE, related_name="test_vectors"
    )
    name = models.CharField(max_length=100, default="default")
    reference_key = models.CharField(max_length=500)
    inputs_key = models.CharField(max_length=500, blank=True)
    start_values = models.JSONField(default=dict, blank=True)
    fmi_type = models.CharField(max_length=20, blank=True)
    columns = models.JSONField(
        default=list, blank=True, help_text="Compared outputs; all if empty."
    )
    rtol = models.FloatField(default=1e-3)
    atol = models.FloatField(default=1e-6)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["version", "name"]
        constraints = [
            models.UniqueConstraint(fields=["version", "name"], name="test_vector_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.version} · {self.name}"


class ValidationRun(models.Model):
    """One run of the validation job for a version; its report is kept even when re-run."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"

    version = models.ForeignKey(
        PackageVersion, on_delete=models.CASCADE, related_name="validation_runs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=100, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    validator_version = models.CharField(max_length=32, blank=True)
    fmpy_version = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"validation #{self.pk} of {self.version} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in {self.Status.PASSED, self.Status.FAILED, self.Status.ERROR}


class PublisherKey(models.Model):
    """A creator's Ed25519 public key for signing their versions."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="publisher_keys"
    )
    name = models.CharField(max_length=100)
    public_key = models.TextField(help_text="PEM (SubjectPublicKeyInfo).")
    fingerprint = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint[:16]})"


class VersionSignature(models.Model):
    """A publisher's signature over a version's manifest (sha256s and identity)."""

    version = models.ForeignKey(PackageVersion, on_delete=models.CASCADE, related_name="signatures")
    key = models.ForeignKey(PublisherKey, on_delete=models.PROTECT, related_name="signatures")
    manifest = models.JSONField()
    signature = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="one_signature_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.version} signed by {self.key}"
