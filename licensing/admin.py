from django.contrib import admin

from fmugateway.core.admin import ReadOnlyMixin, RecordInline, act_on_each
from licensing.models import Activation, License, RunConsumption, SeatAssignment
from licensing.services.licenses import reinstate_license, revoke_license, suspend_license
from licensing.signals import license_revoked_by_staff


class ActivationInline(RecordInline):
    model = Activation
    fields = ("fingerprint", "label", "ip", "activated_at", "last_seen_at", "deactivated_at")


class SeatAssignmentInline(RecordInline):
    """Read-only: seats change through the owner's API and pages (audited there)."""

    model = SeatAssignment
    fk_name = "license"
    fields = ("email", "user", "assigned_by", "created_at", "bound_at", "removed_at")


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "key_hint",
        "owner",
        "package",
        "kind",
        "status",
        "runs_remaining",
        "activation_count",
        "max_activations",
        "expires_at",
    )
    list_filter = ("status", "kind", "pricing_model")
    search_fields = ("=id", "owner__email", "package__slug", "key_hint", "order__number")
    list_select_related = ("owner", "package")
    raw_id_fields = ("owner", "package", "listing", "order", "order_line", "organisation")
    # key_hash is never shown; the rest is changed through actions only.
    exclude = ("key_hash",)
    readonly_fields = [field.name for field in License._meta.fields if field.name != "key_hash"]
    inlines = [ActivationInline, SeatAssignmentInline]
    actions = ["revoke", "suspend", "reinstate"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description="Revoke the selected licenses (and stop their subscriptions)",
        permissions=["change"],
    )
    def revoke(self, request, queryset):
        def revoke(license):
            license = revoke_license(
                license, actor=request.user, reason="revoked by an administrator"
            )
            license_revoked_by_staff.send(sender=License, license=license)

        act_on_each(self, request, queryset, revoke)

    @admin.action(description="Suspend the selected licenses", permissions=["change"])
    def suspend(self, request, queryset):
        act_on_each(
            self,
            request,
            queryset,
            suspend_license,
            actor=request.user,
            reason="suspended by an administrator",
        )

    @admin.action(description="Reinstate the selected suspended licenses", permissions=["change"])
    def reinstate(self, request, queryset):
        act_on_each(
            self,
            request,
            queryset,
            reinstate_license,
            actor=request.user,
            reason="reinstated by an administrator",
        )


@admin.register(Activation)
class ActivationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("license", "fingerprint", "label", "activated_at", "deactivated_at")
    list_filter = (("deactivated_at", admin.EmptyFieldListFilter),)
    search_fields = ("fingerprint", "label", "=license__id")
    list_select_related = ("license",)
    raw_id_fields = ("license",)


@admin.register(RunConsumption)
class RunConsumptionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("license", "job_reference", "consumed_at", "refunded_at")
    search_fields = ("job_reference", "=license__id")
    list_select_related = ("license",)
    raw_id_fields = ("license",)
