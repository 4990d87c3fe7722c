"""Billing in the admin: keys (revoke), plans (through the service), read-only ledger + adjust."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from billing.models import (
    AccountPlan,
    ApiKey,
    CreatorEarning,
    CreditAccount,
    CreditEntry,
    OverageCharge,
    PayoutBatch,
    PayoutItem,
    Reservation,
)
from billing.services import api_keys, credits, payouts, plans
from fmugateway.core.admin import ReadOnlyMixin, RecordInline, act_on_each
from fmugateway.core.errors import DomainError


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "prefix",
        "owner",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "public_id", "owner__email")
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "revoked_by")
    exclude = ("secret_hash",)  # never shown, not even hashed
    readonly_fields = (
        "owner",
        "name",
        "public_id",
        "scopes",
        "expires_at",
        "created_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )
    actions = ["revoke"]

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = sum(api_keys.revoke_api_key(key, actor=request.user) for key in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)

    def has_revoke_permission(self, request):
        return request.user.is_superuser or request.user.has_perm("billing.change_apikey")


class AccountPlanForm(forms.ModelForm):
    plan = forms.ChoiceField(choices=())

    class Meta:
        model = AccountPlan
        fields = (
            "user",
            "plan",
            "status",
            "rate_limit_per_minute_override",
            "included_credits_override",
            "overage_limit_credits_override",
            "overage_rate_override_usd",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = [(tier.code, tier.name) for tier in plans.tiers()]


@admin.register(AccountPlan)
class AccountPlanAdmin(admin.ModelAdmin):
    form = AccountPlanForm
    list_display = ("user", "plan", "status", "source", "current_period_end", "updated_at")
    list_filter = ("plan", "status", "source")
    search_fields = ("user__email", "external_id")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = (
        "source",
        "external_id",
        "current_period_start",
        "current_period_end",
        "created_at",
        "updated_at",
    )

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "user") if obj is not None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Through the service: validated, audited, and the rate limiter's cache dropped.
        data = form.cleaned_data
        saved = plans.change_plan(
            obj.user,
            data["plan"],
            actor=request.user,
            status=data["status"],
            source=AccountPlan.Source.MANUAL,
            rate_limit_per_minute_override=data["rate_limit_per_minute_override"],
            included_credits_override=data["included_credits_override"],
            overage_limit_credits_override=data["overage_limit_credits_override"],
            overage_rate_override_usd=data["overage_rate_override_usd"],
        )
        obj.pk = saved.pk


class AdjustForm(forms.Form):
    amount = forms.IntegerField(help_text="Signed credits: positive adds, negative removes.")
    memo = forms.CharField(max_length=255, help_text="Why (kept in the ledger and audit log).")


class CreditEntryInline(admin.TabularInline):
    model = CreditEntry
    fields = ("created_at", "kind", "amount", "balance_after", "reference", "memo", "actor")
    readonly_fields = fields
    ordering = ("-id",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("user", "balance", "entry_count", "updated_at")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("user", "balance", "created_at", "updated_at")
    change_form_template = "admin/billing/creditaccount/change_form.html"
    actions = ["adjust"]

    def has_adjust_permission(self, request):
        return request.user.has_perm("billing.add_creditentry")

    @admin.action(description="Adjust credits of the selected account", permissions=["adjust"])
    def adjust(self, request, queryset):
        selected = list(queryset.values_list("pk", flat=True)[:2])
        if len(selected) != 1:
            self.message_user(request, "Select exactly one account to adjust.", messages.WARNING)
            return None
        return redirect(reverse("admin:billing_creditaccount_adjust", args=[selected[0]]))

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_entry_count=Count("entries"))

    @admin.display(description="entries", ordering="_entry_count")
    def entry_count(self, account):
        return account._entry_count

    def get_urls(self):
        return [
            path(
                "<int:pk>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="billing_creditaccount_adjust",
            ),
            *super().get_urls(),
        ]

    def adjust_view(self, request, pk: int):
        if not (request.user.is_superuser or request.user.has_perm("billing.add_creditentry")):
            raise PermissionDenied
        account = get_object_or_404(CreditAccount.objects.select_related("user"), pk=pk)
        form = AdjustForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                entry = credits.adjust(
                    account,
                    form.cleaned_data["amount"],
                    memo=form.cleaned_data["memo"],
                    actor=request.user,
                )
            except DomainError as error:
                form.add_error(None, error.detail)
            else:
                self.message_user(
                    request,
                    f"Adjusted by {entry.amount:+d}; balance {entry.balance_after}.",
                    messages.SUCCESS,
                )
                return redirect(reverse("admin:billing_creditaccount_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Adjust credits of {account.user}",
            "account": account,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/billing/creditaccount/adjust.html", context)


@admin.register(CreditEntry)
class CreditEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "account",
        "kind",
        "amount",
        "balance_after",
        "reference",
        "actor",
    )
    list_filter = ("kind",)
    search_fields = ("reference", "memo", "account__user__email")
    list_select_related = ("account__user", "actor")
    raw_id_fields = ("account", "actor")
    date_hierarchy = "created_at"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "reference",
        "account",
        "amount",
        "charged",
        "refunded",
        "status",
        "created_at",
        "closed_at",
    )
    list_filter = ("status",)
    search_fields = ("reference", "account__user__email")
    list_select_related = ("account__user",)
    raw_id_fields = ("account",)


@admin.register(OverageCharge)
class OverageChargeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("cycle", "account", "credits", "amount", "currency", "status", "invoiced_at")
    list_filter = ("status", "cycle")
    search_fields = ("account__user__email", "stripe_invoice_item", "stripe_invoice")
    list_select_related = ("account__user",)
    raw_id_fields = ("account",)


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

    def has_decide_permission(self, request):
        # The batch itself is read-only (ReadOnlyMixin); deciding on it is change_payoutbatch.
        return request.user.has_perm("billing.change_payoutbatch")

    @admin.action(
        description="Approve the selected batches and transfer the money", permissions=["decide"]
    )
    def approve(self, request, queryset):
        act_on_each(self, request, queryset, payouts.approve_payout_batch, moderator=request.user)

    @admin.action(
        description="Cancel the selected batches (the money returns to available)",
        permissions=["decide"],
    )
    def cancel(self, request, queryset):
        act_on_each(self, request, queryset, payouts.cancel_payout_batch, moderator=request.user)


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
