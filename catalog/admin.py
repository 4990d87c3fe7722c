from django.contrib import admin, messages

from catalog.models import AnalyticsEvent, Category, PackageSearch, Review, ReviewReport, Tag
from catalog.services import reviews, search
from fmugateway.core.admin import NotesOnlyMixin, ReadOnlyMixin, RecordInline, act_on_each


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("path", "name", "position")
    search_fields = ("name", "slug", "path")
    raw_id_fields = ("parent",)
    readonly_fields = ("path",)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("slug", "name")
    search_fields = ("slug", "name")


@admin.register(PackageSearch)
class PackageSearchAdmin(admin.ModelAdmin):
    """Catalog rows are derived (``rebuild_search_index``); moderators only pick featured ones."""

    list_display = (
        "title",
        "featured",
        "rating_avg",
        "rating_count",
        "popularity",
        "trending_score",
        "indexed_at",
    )
    list_editable = ("featured",)
    list_filter = ("featured", "certified", "fmi_version")
    search_fields = ("title", "package__slug")
    list_select_related = ("package",)
    raw_id_fields = ("package", "creator", "category", "latest_version")
    fields = ("package", "featured")
    actions = ["reindex"]

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        return ("package",)

    @admin.action(description="Re-index the selected packages", permissions=["change"])
    def reindex(self, request, queryset):
        done = search.index_packages(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{done} re-indexed.", messages.SUCCESS)


class ReviewReportInline(RecordInline):
    model = ReviewReport
    fields = ("reporter", "reason", "details", "status", "created_at")


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    """Moderation: status changes go through actions (the same service as everywhere), so the
    package's rating summary always follows the visible reviews."""

    list_display = (
        "title",
        "package",
        "author",
        "rating",
        "status",
        "report_count",
        "verified_purchase",
        "created_at",
    )
    list_filter = ("status", "rating", "verified_purchase")
    search_fields = ("title", "body", "package__slug", "author__email")
    list_select_related = ("package", "author")
    raw_id_fields = ("package", "author", "version")
    readonly_fields = (
        "package",
        "author",
        "version",
        "rating",
        "title",
        "body",
        "pros",
        "cons",
        "status",
        "verified_purchase",
        "ran_model",
        "helpful_count",
        "not_helpful_count",
        "report_count",
        "creator_response",
        "created_at",
        "edited_at",
    )
    fields = (*readonly_fields, "moderation_note")
    inlines = [ReviewReportInline]
    actions = ["publish", "hold", "hide", "remove"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _moderate(self, request, queryset, status):
        act_on_each(
            self, request, queryset, lambda review: reviews.moderate(review, request.user, status)
        )

    @admin.action(description="Publish (dismiss reports)", permissions=["change"])
    def publish(self, request, queryset):
        self._moderate(request, queryset, Review.Status.PUBLISHED)

    @admin.action(description="Hold for moderation (pending)", permissions=["change"])
    def hold(self, request, queryset):
        self._moderate(request, queryset, Review.Status.PENDING)

    @admin.action(description="Hide", permissions=["change"])
    def hide(self, request, queryset):
        self._moderate(request, queryset, Review.Status.HIDDEN)

    @admin.action(description="Remove", permissions=["change"])
    def remove(self, request, queryset):
        self._moderate(request, queryset, Review.Status.REMOVED)


@admin.register(ReviewReport)
class ReviewReportAdmin(NotesOnlyMixin, admin.ModelAdmin):
    list_display = ("review", "reason", "reporter", "status", "created_at")
    list_filter = ("status", "reason")
    list_select_related = ("review", "reporter")
    raw_id_fields = ("review", "reporter", "resolved_by")
    readonly_fields = ("review", "reporter", "reason", "details", "created_at", "resolved_at")
    actions = ["hide_reviews", "dismiss"]
    note_fields = ()  # a report is resolved by the actions (through the review service)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Hide the reported reviews", permissions=["change"])
    def hide_reviews(self, request, queryset):
        act_on_each(
            self,
            request,
            {report.review for report in queryset.select_related("review")},
            lambda review: reviews.moderate(review, request.user, Review.Status.HIDDEN),
        )

    @admin.action(description="Dismiss: keep the reviews published", permissions=["change"])
    def dismiss(self, request, queryset):
        act_on_each(
            self,
            request,
            {report.review for report in queryset.select_related("review")},
            lambda review: reviews.moderate(review, request.user, Review.Status.PUBLISHED),
        )


@admin.register(AnalyticsEvent)
class AnalyticsEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "package", "query", "result_count", "user_id")
    list_filter = ("kind",)
    search_fields = ("query",)
    raw_id_fields = ("package",)
