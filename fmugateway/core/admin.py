"""The core's admin (audit log, worker heartbeats) and the admin helpers every app uses."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.apps import apps
from django.contrib import admin, messages
from django.utils.html import format_html_join

from fmugateway.core.errors import DomainError
from fmugateway.core.health import sandbox_summary
from fmugateway.core.models import AuditEntry, WorkerHeartbeat


class ReadOnlyMixin:
    """Ledgers and records the admin may read but never write."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NotesOnlyMixin:
    """Superusers edit the whole row; anyone else (a moderator) only ``note_fields``, the reason
    a decision carries: the rest (e.g. a creator's Stripe account) is not theirs to change."""

    note_fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return readonly
        model_fields = [f.name for f in self.model._meta.fields]
        return readonly + tuple(
            name for name in model_fields if name not in self.note_fields and name not in readonly
        )


def act_on_each(
    modeladmin: admin.ModelAdmin,
    request,
    objects: Iterable,
    verb: Callable[..., object],
    *args,
    **kwargs,
) -> None:
    """An admin action's body: ``verb(obj, *args, **kwargs)`` for each object, the service's
    refusal (``DomainError``) shown for the objects it refused, then how many it updated."""
    done = 0
    for obj in objects:
        try:
            verb(obj, *args, **kwargs)
            done += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{done} updated.", messages.SUCCESS)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "actor_label", "action", "target_kind", "target", "ip")
    list_filter = ("action", "target_type")
    search_fields = ("action", "actor_label", "target_id", "target_repr", "request_id")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)
    readonly_fields = [field.name for field in AuditEntry._meta.fields]

    @admin.display(description="what", ordering="target_type")
    def target_kind(self, obj: AuditEntry) -> str:
        """The target's kind in words ("DMCA complaint"), not its label."""
        if not obj.target_type:
            return ""
        try:
            model = apps.get_model(obj.target_type)
        except (LookupError, ValueError):
            return obj.target_type  # a model since removed: its label is all there is
        return str(model._meta.verbose_name).capitalize()

    @admin.display(description="target", ordering="target_repr")
    def target(self, obj: AuditEntry) -> str:
        return obj.target_repr


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "seen_at", "isolation")
    readonly_fields = ("hostname", "seen_at", "isolation", "sandbox_details", "status")

    @admin.display(description="FMU sandbox isolation")
    def isolation(self, obj: WorkerHeartbeat) -> str:
        return sandbox_summary(obj.status)

    @admin.display(description="sandbox details")
    def sandbox_details(self, obj: WorkerHeartbeat) -> str:
        sandbox = obj.status.get("sandbox") or {}
        keys = ("detail", "cgroup", "cgroup_detail", "seccomp", "seccomp_detail", "per_run_uid")
        return format_html_join(
            "", "<div><b>{}</b>: {}</div>", ((key, sandbox[key]) for key in keys if key in sandbox)
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RecordInline(admin.TabularInline):
    """Rows the admin shows beside their parent but never edits there: they change through the
    services, which check and audit them. Subclasses name their ``fields``."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False
