"""Admin for the marketplace. Actions call the same services as the API; no key material shown."""

from django.contrib import admin
from django.db.models import Count

from fmugateway.core.admin import ReadOnlyMixin, RecordInline, act_on_each
from marketplace import payments, services
from marketplace.models import Coupon, LicenseRenewal, Listing, Order, OrderLine, Refund


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
        act_on_each(
            self,
            request,
            queryset,
            payments.refund_payment,
            reason="refunded by an administrator",
            actor=request.user,
        )

    @admin.action(description="Cancel the selected pending orders", permissions=["change"])
    def cancel(self, request, queryset):
        act_on_each(
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
        act_on_each(
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


# --- Payouts ----------------------------------------------------------------------------------


# --- Catalog, reviews, analytics -------------------------------------------------------------


# --- DMCA takedowns ---------------------------------------------------------------------------
