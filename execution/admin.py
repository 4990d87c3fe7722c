from django.contrib import admin

from execution.models import SimulationBatch, SimulationJob
from execution.services import batches as batch_services
from execution.services import jobs as job_services
from fmugateway.core.admin import act_on_each


@admin.register(SimulationJob)
class SimulationJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "version",
        "status",
        "error_code",
        "attempts",
        "wall_s",
        "cost_credits",
        "batch",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "error_code", "created_at")
    list_select_related = ("owner", "version__package")
    search_fields = ("id", "owner__email", "version__package__slug", "sha256")
    raw_id_fields = ("owner", "version", "batch", "rerun_of")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in SimulationJob._meta.fields]
    actions = ["cancel", "requeue"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Cancel the selected jobs", permissions=["change"])
    def cancel(self, request, queryset):
        act_on_each(self, request, queryset, job_services.cancel_job, request.user)

    @admin.action(description="Re-queue the selected queued or stuck jobs", permissions=["change"])
    def requeue(self, request, queryset):
        act_on_each(self, request, queryset, job_services.requeue_job, request.user)


@admin.register(SimulationBatch)
class SimulationBatchAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "version",
        "status",
        "runs_total",
        "runs_succeeded",
        "runs_failed",
        "cost_credits",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "created_at")
    list_select_related = ("owner", "version__package")
    search_fields = ("id", "owner__email", "version__package__slug")
    raw_id_fields = ("owner", "version")
    readonly_fields = [field.name for field in SimulationBatch._meta.fields]
    actions = ["cancel"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Cancel the selected batches", permissions=["change"])
    def cancel(self, request, queryset):
        act_on_each(self, request, queryset, batch_services.cancel_batch, request.user)
