"""Admin for the marketplace. Actions call the same services as the API; no key material shown."""

from django.contrib import admin, messages
from django.db.models import Count, Q, Sum

from fmugateway.core.admin import ReadOnlyMixin
from fmugateway.core.admin import act_on_each as _each  # one definition, core's
from fmugateway.core.errors import DomainError
from marketplace import payments, services
from marketplace.models import (
    Activation,
    AnalyticsEvent,
    Category,
    CounterNotice,
    Coupon,
    Creator,
    CreatorEarning,
    License,
    LicenseRenewal,
    Listing,
    Membership,
    Order,
    OrderLine,
    Organisation,
    OrganisationInvitation,
    PackageSearch,
    PayoutBatch,
    PayoutItem,
    Refund,
    Review,
    ReviewReport,
    RunConsumption,
    SeatAssignment,
    Tag,
    TakedownComplaint,
)
from marketplace.services import catalog, payouts, reviews, takedowns


class RecordInline(admin.TabularInline):
    """Rows the admin shows beside their parent but never edits there: they change through the
    services, which check and audit them. Subclasses name their ``fields``."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Creator)
class CreatorAdmin(admin.ModelAdmin):
    list_display = (
        "display_name",
        "slug",
        "user",
        "status",
        "charges_enabled",
        "payouts_enabled",
        "applied_at",
    )
    list_filter = ("status", "charges_enabled", "payouts_enabled")
    search_fields = ("display_name", "slug", "user__email", "support_email")
    list_select_related = ("user",)
    raw_id_fields = ("user", "reviewed_by")
    readonly_fields = (
        "status",
        "applied_at",
        "reviewed_at",
        "reviewed_by",
        "created_at",
        "updated_at",
    )
    actions = ["approve", "reject"]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Approve the selected creators")
    def approve(self, request, queryset):
        _each(self, request, queryset, services.approve_creator, actor=request.user)

    @admin.action(description="Reject the selected creators (reason: the review note field)")
    def reject(self, request, queryset):
        for creator in queryset:
            try:
                services.reject_creator(creator, request.user, creator.review_note)
            except DomainError as exc:
                self.message_user(request, f"{creator}: {exc.detail}", messages.ERROR)


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "package",
        "kind",
        "pricing_model",
        "price_amount",
        "currency",
        "is_active",
    )
    list_filter = ("kind", "pricing_model", "is_active", "currency")
    search_fields = ("name", "package__slug", "package__name")
    list_select_related = ("package",)
    raw_id_fields = ("package",)
    readonly_fields = ("created_at", "updated_at")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "kind",
        "percent_off",
        "amount_off",
        "currency",
        "package",
        "times_used",
        "max_uses",
        "expires_at",
        "is_active",
    )
    list_filter = ("kind", "is_active")
    search_fields = ("code", "package__slug")
    list_select_related = ("package",)
    raw_id_fields = ("package", "created_by")
    readonly_fields = ("times_used", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        obj.code = obj.code.strip().upper()
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class OrderLineInline(RecordInline):
    model = OrderLine
    fields = (
        "description",
        "kind",
        "pricing_model",
        "unit_amount",
        "discount_amount",
        "amount",
        "refunded_amount",
        "platform_fee_bps",
    )


class RefundInline(RecordInline):
    model = Refund
    fields = ("kind", "amount", "currency", "reason", "reference", "actor", "created_at")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "buyer",
        "status",
        "total_amount",
        "refunded_amount",
        "currency",
        "line_count",
        "paid_at",
        "created_at",
    )
    list_filter = ("status", "currency")
    search_fields = ("number", "buyer__email", "payment_reference", "coupon_code")
    list_select_related = ("buyer",)
    raw_id_fields = ("buyer", "coupon")
    readonly_fields = [field.name for field in Order._meta.fields]
    inlines = [OrderLineInline, RefundInline]
    actions = ["refund_in_full", "cancel"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_line_count=Count("lines"))

    @admin.display(ordering="_line_count", description="lines")
    def line_count(self, obj):
        return obj._line_count

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description="Refund the selected orders in full at Stripe (revokes licenses)",
        permissions=["change"],
    )
    def refund_in_full(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            payments.refund_payment,
            reason="refunded by an administrator",
            actor=request.user,
        )

    @admin.action(description="Cancel the selected pending orders")
    def cancel(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            services.cancel_order,
            actor=request.user,
            reason="cancelled by an administrator",
        )


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Lines are listed to refund some of an order's SKUs (the order page refunds all)."""

    list_display = ("order", "description", "kind", "amount", "refunded_amount", "currency")
    list_filter = ("kind", "pricing_model")
    search_fields = ("order__number", "description")
    list_select_related = ("order",)
    raw_id_fields = ("order", "listing", "package")
    actions = ["refund_lines"]

    def has_refund_permission(self, request):
        return request.user.has_perm("marketplace.change_order")

    @admin.action(
        description="Refund the selected lines at Stripe (revokes only their licenses)",
        permissions=["refund"],
    )
    def refund_lines(self, request, queryset):
        by_order: dict[int, list[int]] = {}
        for line in queryset.order_by("order_id", "id"):
            by_order.setdefault(line.order_id, []).append(line.pk)
        _each(
            self,
            request,
            Order.objects.filter(pk__in=by_order).order_by("id"),
            lambda order: payments.refund_payment(
                order,
                lines=by_order[order.pk],
                actor=request.user,
                reason="refunded by an administrator",
            ),
        )


class ActivationInline(RecordInline):
    model = Activation
    fields = ("fingerprint", "label", "ip", "activated_at", "last_seen_at", "deactivated_at")


class SeatAssignmentInline(RecordInline):
    """Read-only: seats change through the owner's API and pages (audited there)."""

    model = SeatAssignment
    fk_name = "license"
    fields = ("email", "user", "assigned_by", "created_at", "bound_at", "removed_at")


class MembershipInline(RecordInline):
    """Read-only: members change through the organisation's API, which audits them."""

    model = Membership
    fields = ("user", "role", "created_at")


class InvitationInline(RecordInline):
    """Read-only, like members: invitations are made and withdrawn through the API."""

    model = OrganisationInvitation
    fields = ("email", "role", "invited_by", "created_at", "accepted_at", "cancelled_at")


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "owner", "created_at")
    search_fields = ("name", "slug", "owner__email")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    inlines = [MembershipInline, InvitationInline]


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

    @admin.action(description="Revoke the selected licenses (and stop their subscriptions)")
    def revoke(self, request, queryset):
        def revoke(license):
            license = services.revoke_license(
                license, actor=request.user, reason="revoked by an administrator"
            )
            payments.cancel_license_subscription(license)

        _each(self, request, queryset, revoke)

    @admin.action(description="Suspend the selected licenses")
    def suspend(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            services.suspend_license,
            actor=request.user,
            reason="suspended by an administrator",
        )

    @admin.action(description="Reinstate the selected suspended licenses")
    def reinstate(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            services.reinstate_license,
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


@admin.register(LicenseRenewal)
class LicenseRenewalAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("license", "invoice_id", "order", "period_end", "created_at")
    search_fields = ("invoice_id", "=license__id", "order__number")
    list_select_related = ("license", "order")
    raw_id_fields = ("license", "order")


@admin.register(Refund)
class RefundAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "order",
        "kind",
        "amount",
        "currency",
        "reason",
        "reference",
        "actor",
        "created_at",
    )
    list_filter = ("kind",)
    search_fields = ("order__number", "reference")
    list_select_related = ("order", "actor")
    raw_id_fields = ("order", "actor")


@admin.register(CreatorEarning)
class CreatorEarningAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "creator",
        "kind",
        "gross_amount",
        "platform_fee_amount",
        "net_amount",
        "currency",
        "available_at",
        "created_at",
    )
    list_filter = ("kind", "currency")
    search_fields = ("creator__slug", "order_line__order__number")
    list_select_related = ("creator", "order_line__order")
    raw_id_fields = ("creator", "order_line", "refund", "payout_item")


# --- Payouts ----------------------------------------------------------------------------------


class PayoutItemInline(RecordInline):
    model = PayoutItem
    fields = (
        "creator",
        "amount",
        "currency",
        "status",
        "skip_reason",
        "destination",
        "stripe_transfer_id",
        "amount_reversed",
        "failure_code",
        "failure_message",
        "paid_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("creator")


@admin.register(PayoutBatch)
class PayoutBatchAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Beat makes the batches; a moderator checks the items and approves (or cancels)."""

    list_display = (
        "reference",
        "status",
        "scheduled_total",
        "item_count",
        "skipped_count",
        "created_at",
        "approved_by",
        "completed_at",
    )
    list_filter = ("status",)
    search_fields = ("reference",)
    list_select_related = ("approved_by",)
    inlines = [PayoutItemInline]
    actions = ["approve", "cancel"]

    def get_queryset(self, request):
        paying = ~Q(items__status__in=["skipped", "cancelled"])
        return (
            super()
            .get_queryset(request)
            .annotate(
                _items=Count("items"),
                _skipped=Count("items", filter=Q(items__status="skipped")),
                _total=Sum("items__amount", filter=paying),
            )
        )

    @admin.display(ordering="_total", description="to pay (all currencies)")
    def scheduled_total(self, obj):
        return obj._total or 0

    @admin.display(ordering="_items", description="items")
    def item_count(self, obj):
        return obj._items

    @admin.display(ordering="_skipped", description="skipped")
    def skipped_count(self, obj):
        return obj._skipped

    @admin.action(description="Approve the selected batches and transfer the money")
    def approve(self, request, queryset):
        _each(self, request, queryset, payouts.approve_payout_batch, moderator=request.user)

    @admin.action(description="Cancel the selected batches (the money returns to available)")
    def cancel(self, request, queryset):
        _each(self, request, queryset, payouts.cancel_payout_batch, moderator=request.user)


@admin.register(PayoutItem)
class PayoutItemAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "batch",
        "creator",
        "amount",
        "currency",
        "status",
        "skip_reason",
        "failure_code",
        "stripe_transfer_id",
        "amount_reversed",
        "paid_at",
    )
    list_filter = ("status", "skip_reason", "currency")
    search_fields = ("batch__reference", "creator__slug", "stripe_transfer_id")
    list_select_related = ("batch", "creator")
    raw_id_fields = ("batch", "creator")


# --- Catalog, reviews, analytics -------------------------------------------------------------


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

    @admin.action(description="Re-index the selected packages")
    def reindex(self, request, queryset):
        done = catalog.index_packages(queryset.values_list("pk", flat=True))
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
        _each(
            self, request, queryset, lambda review: reviews.moderate(review, request.user, status)
        )

    @admin.action(description="Publish (dismiss reports)")
    def publish(self, request, queryset):
        self._moderate(request, queryset, Review.Status.PUBLISHED)

    @admin.action(description="Hold for moderation (pending)")
    def hold(self, request, queryset):
        self._moderate(request, queryset, Review.Status.PENDING)

    @admin.action(description="Hide")
    def hide(self, request, queryset):
        self._moderate(request, queryset, Review.Status.HIDDEN)

    @admin.action(description="Remove")
    def remove(self, request, queryset):
        self._moderate(request, queryset, Review.Status.REMOVED)


@admin.register(ReviewReport)
class ReviewReportAdmin(admin.ModelAdmin):
    list_display = ("review", "reason", "reporter", "status", "created_at")
    list_filter = ("status", "reason")
    list_select_related = ("review", "reporter")
    raw_id_fields = ("review", "reporter", "resolved_by")
    readonly_fields = ("review", "reporter", "reason", "details", "created_at", "resolved_at")
    actions = ["hide_reviews", "dismiss"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Hide the reported reviews")
    def hide_reviews(self, request, queryset):
        _each(
            self,
            request,
            {report.review for report in queryset.select_related("review")},
            lambda review: reviews.moderate(review, request.user, Review.Status.HIDDEN),
        )

    @admin.action(description="Dismiss: keep the reviews published")
    def dismiss(self, request, queryset):
        _each(
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


# --- DMCA takedowns ---------------------------------------------------------------------------


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
        _each(
            self,
            request,
            queryset,
            lambda complaint: verb(complaint, request.user, complaint.moderator_note),
        )

    @admin.action(description="Take down the packages (unlist, block, suspend licenses)")
    def take_down(self, request, queryset):
        self._decide(request, queryset, takedowns.take_down)

    @admin.action(description="Reject the complaints (reason: the moderator's note)")
    def reject(self, request, queryset):
        self._decide(request, queryset, takedowns.reject_complaint)

    @admin.action(description="Resolve: restore the packages and their licenses")
    def restore(self, request, queryset):
        self._decide(request, queryset, takedowns.restore_package)

    @admin.action(description="Resolve: remove the packages for good")
    def remove(self, request, queryset):
        self._decide(request, queryset, takedowns.remove_package)
