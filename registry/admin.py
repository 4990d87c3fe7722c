from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html

from fmugateway.core.admin import NotesOnlyMixin, act_on_each
from registry import services
from registry.models import (
    Package,
    PackageVersion,
    PublisherKey,
    TestVector,
    ValidationRun,
    Variable,
    VersionSignature,
)
from registry.validation import queue_validation


class VersionInline(admin.TabularInline):
    model = PackageVersion
    fields = (
        "version",
        "fmi_version",
        "validation_status",
        "certified",
        "risk_score",
        "yanked_at",
        "created_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Package)
class PackageAdmin(NotesOnlyMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "owner",
        "status",
        "is_free",
        "version_count",
        "submitted_at",
        "listed_at",
    )
    list_filter = ("status", "is_free", "category")
    search_fields = ("name", "slug", "summary", "owner__email")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("status", "submitted_at", "listed_at", "created_at", "updated_at")
    inlines = [VersionInline]
    actions = ["approve", "reject"]
    note_fields = ("review_note",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_version_count=Count("versions"))

    @admin.display(ordering="_version_count", description="versions")
    def version_count(self, obj):
        return obj._version_count

    @admin.action(description="Approve and list the selected packages", permissions=["change"])
    def approve(self, request, queryset):
        act_on_each(self, request, queryset, services.approve_package, request.user)

    @admin.action(
        description="Reject the selected packages (reason: the review note field)",
        permissions=["change"],
    )
    def reject(self, request, queryset):
        for package in queryset:
            reason = package.review_note or "Rejected by a moderator; see the review guidelines."
            act_on_each(
                self, request, [package], services.reject_package, request.user, reason=reason
            )


class RiskFilter(admin.SimpleListFilter):
    title = "risk"
    parameter_name = "risk"

    def lookups(self, request, model_admin):
        return [
            ("none", "none (0)"),
            ("low", "low (<20)"),
            ("medium", "medium (20–39)"),
            ("high", "high (≥40)"),
        ]

    def queryset(self, request, queryset):
        ranges = {"none": (0, 0), "low": (1, 19), "medium": (20, 39), "high": (40, 100)}
        if self.value() in ranges:
            low, high = ranges[self.value()]
            return queryset.filter(risk_score__gte=low, risk_score__lte=high)
        return queryset


@admin.register(PackageVersion)
class PackageVersionAdmin(NotesOnlyMixin, admin.ModelAdmin):
    list_display = (
        "package",
        "version",
        "fmi_version",
        "validation_status",
        "certified",
        "risk_score",
        "created_at",
    )
    list_filter = ("validation_status", "certified", "fmi_version", RiskFilter)
    search_fields = ("package__name", "package__slug", "version", "sha256", "model_name")
    list_select_related = ("package",)
    raw_id_fields = ("package", "uploaded_by")
    readonly_fields = [f.name for f in PackageVersion._meta.fields if f.name not in {"changelog"}]
    actions = ["revalidate"]
    note_fields = ()  # the changelog is the creator's text; moderators only re-validate

    @admin.action(description="Re-run validation", permissions=["change"])
    def revalidate(self, request, queryset):
        for version in queryset:
            queue_validation(version, requested_by=request.user)
        self.message_user(request, f"{queryset.count()} validation(s) queued.")


@admin.register(ValidationRun)
class ValidationRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "version",
        "status",
        "progress",
        "error_code",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "validator_version")
    list_select_related = ("version__package",)
    readonly_fields = [f.name for f in ValidationRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PublisherKey)
class PublisherKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "fingerprint_short", "created_at", "revoked_at")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("public_key", "fingerprint", "created_at")

    @admin.display(description="fingerprint")
    def fingerprint_short(self, obj):
        return format_html("<code>{}</code>", obj.fingerprint[:16])


admin.site.register(TestVector, raw_id_fields=("version",), list_select_related=("version",))
admin.site.register(VersionSignature, raw_id_fields=("version", "key"))
admin.site.register(
    Variable,
    raw_id_fields=("version",),
    search_fields=("name",),
    list_display=("name", "version", "causality", "type", "unit"),
)
