from django.contrib import admin

from compliance.models import CounterNotice, TakedownComplaint
from compliance.services import takedowns
from fmugateway.core.admin import act_on_each


class CounterNoticeInline(admin.StackedInline):
    model = CounterNotice
    fields = (
        "full_name",
        "contact_email",
        "address",
        "statement",
        "good_faith",
        "consent_to_jurisdiction",
        "signature",
        "filed_by",
        "created_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TakedownComplaint)
class TakedownComplaintAdmin(admin.ModelAdmin):
    """Moderators review complaints; decisions go through the actions (the takedown services).
    The moderator's note (editable) is the reason a decision carries."""

    list_display = (
        "id",
        "package",
        "complainant_name",
        "complainant_email",
        "status",
        "created_at",
        "reviewed_by",
        "resolved_at",
    )
    list_filter = ("status",)
    search_fields = ("package__slug", "complainant_name", "complainant_email")
    list_select_related = ("package", "reviewed_by")
    raw_id_fields = ("package",)
    readonly_fields = [
        field.name
        for field in TakedownComplaint._meta.fields
        if field.name not in ("moderator_note",)
    ]
    inlines = [CounterNoticeInline]
    actions = ["take_down", "reject", "restore", "remove"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _decide(self, request, queryset, verb):
        act_on_each(
            self,
            request,
            queryset,
            lambda complaint: verb(complaint, request.user, complaint.moderator_note),
        )

    @admin.action(
        description="Take down the packages (unlist, block, suspend licenses)",
        permissions=["change"],
    )
    def take_down(self, request, queryset):
        self._decide(request, queryset, takedowns.take_down)

    @admin.action(
        description="Reject the complaints (reason: the moderator's note)", permissions=["change"]
    )
    def reject(self, request, queryset):
        self._decide(request, queryset, takedowns.reject_complaint)

    @admin.action(
        description="Resolve: restore the packages and their licenses", permissions=["change"]
    )
    def restore(self, request, queryset):
        self._decide(request, queryset, takedowns.restore_package)

    @admin.action(description="Resolve: remove the packages for good", permissions=["change"])
    def remove(self, request, queryset):
        self._decide(request, queryset, takedowns.remove_package)
