from datetime import timedelta

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import lockout
from accounts.forms import UserChangeAdminForm, UserCreationAdminForm
from accounts.models import Creator, Membership, Organisation, OrganisationInvitation, User
from accounts.services.creators import approve_creator, reject_creator
from fmugateway.core.admin import NotesOnlyMixin, RecordInline, act_on_each
from fmugateway.core.errors import DomainError


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    ordering = ("email",)
    list_display = ("email", "display_name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "display_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("display_name",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


# --- Sign-in lockouts (django-axes) --------------------------------------------------------
# Axes registers its own admin; ours adds which counters are locked and audited unlock actions.
# Its access and failure logs are not kept (settings), so their empty lists are not shown.
for _model in (AccessAttempt, AccessLog, AccessFailureLog):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


def _recent_failures(since, *fields: str):
    """Failures within the cool-off summed over the rows sharing this row's ``fields``."""
    sums = (
        AccessAttempt.objects.filter(attempt_time__gte=since, **{f: OuterRef(f) for f in fields})
        .order_by()
        .values(*fields)
        .annotate(total=Sum("failures_since_start"))
        .values("total")
    )
    return Coalesce(Subquery(sums[:1]), 0)


class LockedOutFilter(admin.SimpleListFilter):
    title = "locked out"
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return (("yes", "Yes"), ("no", "No"))

    def queryset(self, request, queryset):
        locked = (
            Q(account_ip_failures__gte=settings.LOGIN_FAILURE_LIMIT)
            | Q(account_failures__gte=settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT)
            | Q(ip_failures__gte=settings.LOGIN_FAILURE_LIMIT_PER_IP)
        )
        if self.value() == "yes":
            return queryset.filter(locked)
        if self.value() == "no":
            return queryset.exclude(locked)
        return queryset


@admin.register(AccessAttempt)
class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """Failed sign-ins per account, IP and user agent; a row ages out ``LOGIN_COOLOFF_MINUTES``
    after its last failure. "Locked out" lists the counters refusing sign-ins now."""

    list_display = [
        "attempt_time",
        "username",
        "ip_address",
        "failures_since_start",
        "locked_out",
        "path_info",
        "user_agent",
    ]
    list_filter = [LockedOutFilter, "attempt_time", "path_info"]
    actions = ["unlock_accounts", "unlock_ip_addresses", "cleanup_expired_attempts"]

    def get_queryset(self, request):
        since = timezone.now() - timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES)
        return (
            super()
            .get_queryset(request)
            .annotate(
                account_ip_failures=_recent_failures(since, "username", "ip_address"),
                account_failures=_recent_failures(since, "username"),
                ip_failures=_recent_failures(since, "ip_address"),
            )
        )

    @admin.display(description="Locked out")
    def locked_out(self, obj) -> str:
        locked = [
            label
            for label, failures, limit in (
                ("account from this IP", obj.account_ip_failures, settings.LOGIN_FAILURE_LIMIT),
                ("account", obj.account_failures, settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT),
                ("IP", obj.ip_failures, settings.LOGIN_FAILURE_LIMIT_PER_IP),
            )
            if obj.username is not None or label == "IP"
            if failures >= limit
        ]
        return ", ".join(locked) or "–"

    @admin.action(
        permissions=["delete"],
        description="Unlock the selected accounts (their failures from every IP)",
    )
    def unlock_accounts(self, request, queryset):
        usernames = set(queryset.values_list("username", flat=True))
        removed = lockout.unlock(usernames=usernames, actor=request.user)
        self.message_user(request, f"Unlocked {len(usernames)} account(s); {removed} row(s).")

    @admin.action(
        permissions=["delete"],
        description="Unlock the selected IP addresses (their failures for every account)",
    )
    def unlock_ip_addresses(self, request, queryset):
        addresses = set(queryset.values_list("ip_address", flat=True))
        removed = lockout.unlock(ip_addresses=addresses, actor=request.user)
        self.message_user(request, f"Unlocked {len(addresses)} IP address(es); {removed} row(s).")


@admin.register(Creator)
class CreatorAdmin(NotesOnlyMixin, admin.ModelAdmin):
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
    note_fields = ("review_note",)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Approve the selected creators", permissions=["change"])
    def approve(self, request, queryset):
        act_on_each(self, request, queryset, approve_creator, actor=request.user)

    @admin.action(
        description="Reject the selected creators (reason: the review note field)",
        permissions=["change"],
    )
    def reject(self, request, queryset):
        for creator in queryset:
            try:
                reject_creator(creator, request.user, creator.review_note)
            except DomainError as exc:
                self.message_user(request, f"{creator}: {exc.detail}", messages.ERROR)


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
