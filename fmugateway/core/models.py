from django.conf import settings
from django.db import models


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit log is append-only.")

    def delete(self):
        raise PermissionError("The audit log is append-only.")


class AuditEntry(models.Model):
    """One append-only line of the audit log; written only through ``core.audit.record``."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # DO_NOTHING: the log outlives users and the table refuses UPDATEs.
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
    )
    actor_label = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100, blank=True, db_index=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    target_repr = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["target_type", "target_id", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label or '-'} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit entries cannot be deleted.")


class WorkerHeartbeat(models.Model):
    """Last time a Celery worker ran the heartbeat task; read by ``/healthz``."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()
    # What the worker reports about itself (e.g. whether the FMU sandbox is isolated).
    status = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.seen_at:%H:%M:%S}"


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an ``Idempotency-Key`` header, for replays."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        DONE = "done"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    owner = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=20, choices=State.choices, default=State.IN_PROGRESS)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_owner_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.key} ({self.state})"


class ObjectDataKey(models.Model):
    """The data key of one encrypted object of a named storage, wrapped by a master key.

    Written only through ``fmugateway.core.storage``: a rotation rewraps ``wrapped_key`` here,
    so the stored object itself is never rewritten. ``pending`` marks an object that
    ``encrypt_artifacts`` is converting from plaintext: until it is cleared, a plaintext object
    is still accepted (afterwards a plaintext object under this name is a tampering sign).
    """

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    storage = models.CharField(max_length=32)
    name = models.CharField(max_length=1024)
    master_key_id = models.CharField(max_length=64, db_index=True)
    wrapped_key = models.BinaryField()
    pending = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["storage", "name"], name="core_object_data_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.storage}:{self.name} ({self.master_key_id})"
