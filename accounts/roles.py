"""Roles: what each Django group may do, declared once here and applied by ``sync_roles`` (a
command, also run after every ``migrate``), so a new install and an upgrade end up the same.

Permissions are ``(app_label, codename)`` strings: accounts is the lowest app and must not import
the models it grants on. A moderator is a staff user (``is_staff``, to enter the admin) in the
``Moderators`` group; everything else (superusers aside) stays with staff who hold explicit
permissions.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from accounts.models import MODERATORS_GROUP

Perm = tuple[str, str]


def _view(app_label: str, *models: str) -> tuple[Perm, ...]:
    return tuple((app_label, f"view_{model}") for model in models)


def _moderate(app_label: str, *models: str) -> tuple[Perm, ...]:
    # "change" is what the admin's moderation actions (and their note fields) require; no add
    # or delete: decisions go through the actions, which call the audited services.
    return _view(app_label, *models) + tuple((app_label, f"change_{model}") for model in models)


MODERATOR_PERMISSIONS: tuple[Perm, ...] = (
    # Creators: approve/reject applications; the review note is the rejection's reason.
    *_moderate("accounts", "creator"),
    # Users and organisations: read only, to see who is behind a creator, order or report.
    # Never change_user: that would open password changes, staff flags and group membership.
    *_view("accounts", "user", "organisation", "membership", "organisationinvitation"),
    # Packages: approve/reject submissions (with their versions); versions: re-run validation.
    *_moderate("registry", "package", "packageversion"),
    # What a decision rests on: validation runs, test vectors, variables, signatures (read only).
    # Publisher keys stay staff-only: key management is not moderation.
    *_view("registry", "validationrun", "testvector", "variable", "versionsignature"),
    # Reviews and their reports: publish, hold, hide, remove, dismiss; featured packages.
    *_moderate("catalog", "review", "reviewreport", "packagesearch"),
    # The category tree and tags are read (a listing is judged against them), curated by staff.
    *_view("catalog", "category", "tag"),
    # DMCA: take down, reject, restore, remove; the moderator's note is editable.
    *_moderate("compliance", "takedowncomplaint"),
    *_view("compliance", "counternotice"),  # the creator's answer, shown on the complaint
    # Orders: refund (in full or by line) and cancel pending ones; change_order is the refund
    # right. Refunds, listings and renewals are read to answer a buyer; coupons are the seller's.
    *_moderate("marketplace", "order"),
    *_view("marketplace", "orderline", "refund", "listing", "licenserenewal"),
    # Licenses: read (a refund or takedown changes them through its own service). Revoking,
    # suspending and reinstating by hand stay staff-only.
    *_view("licensing", "license", "activation", "runconsumption", "seatassignment"),
    # Payouts: approve or cancel a batch (change_payoutbatch), read its items and the earnings.
    # Never API keys, plans, credit ledgers or adjustments.
    *_moderate("billing", "payoutbatch"),
    *_view("billing", "payoutitem", "creatorearning"),
    # The audit log, read only (it is append-only for everyone).
    *_view("core", "auditentry"),
    # Deliberately absent: auth (groups, permissions), axes (lockouts), djstripe (Stripe objects
    # and its API keys), execution (jobs), core.workerheartbeat, billing.apikey and the rest of
    # billing, registry.publisherkey, marketplace.coupon, catalog.analyticsevent.
)

ROLES: dict[str, tuple[Perm, ...]] = {MODERATORS_GROUP: MODERATOR_PERMISSIONS}

# Every admin action by ``(model label, action name)``, with the role decision the permission
# test checks: moderation actions are offered to a moderator, staff-only ones never are.
MODERATION_ACTIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("accounts.Creator", "approve"),
        ("accounts.Creator", "reject"),
        ("registry.Package", "approve"),
        ("registry.Package", "reject"),
        ("registry.PackageVersion", "revalidate"),
        ("catalog.Review", "publish"),
        ("catalog.Review", "hold"),
        ("catalog.Review", "hide"),
        ("catalog.Review", "remove"),
        ("catalog.ReviewReport", "hide_reviews"),
        ("catalog.ReviewReport", "dismiss"),
        ("catalog.PackageSearch", "reindex"),
        ("compliance.TakedownComplaint", "take_down"),
        ("compliance.TakedownComplaint", "reject"),
        ("compliance.TakedownComplaint", "restore"),
        ("compliance.TakedownComplaint", "remove"),
        ("marketplace.Order", "refund_in_full"),
        ("marketplace.Order", "cancel"),
        ("marketplace.OrderLine", "refund_lines"),
        ("billing.PayoutBatch", "approve"),
        ("billing.PayoutBatch", "cancel"),
    }
)
# Apps whose every action is staff-only (dj-stripe's resync/cancel actions talk to Stripe with
# the platform's secret key).
STAFF_ONLY_APPS: frozenset[str] = frozenset({"djstripe"})
STAFF_ONLY_ACTIONS: frozenset[tuple[str, str]] = frozenset(
    {
        # Sign-in lockouts: security operations, not content moderation.
        ("axes.AccessAttempt", "unlock_accounts"),
        ("axes.AccessAttempt", "unlock_ip_addresses"),
        ("axes.AccessAttempt", "cleanup_expired_attempts"),
        # Keys and money outside orders and payouts.
        ("billing.ApiKey", "revoke"),
        ("billing.CreditAccount", "adjust"),
        # Licenses change by hand only with staff; refunds and takedowns change them for
        # moderators through their services.
        ("licensing.License", "revoke"),
        ("licensing.License", "suspend"),
        ("licensing.License", "reinstate"),
        # Running jobs are operations.
        ("execution.SimulationJob", "cancel"),
        ("execution.SimulationJob", "requeue"),
        ("execution.SimulationBatch", "cancel"),
    }
)


@dataclass(frozen=True)
class SyncResult:
    group: str
    granted: int
    missing: tuple[Perm, ...]


@transaction.atomic
def sync_roles(using: str = "default") -> list[SyncResult]:
    """Make each role's group hold exactly its declared permissions (creating the group, adding
    what is missing, removing what is no longer declared). Idempotent. Permissions that do not
    exist yet (an app not migrated so far) are reported in ``missing``, not created."""
    from django.contrib.auth.models import Group, Permission

    results = []
    for name, declared in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        wanted = set(declared)
        found = {
            (p.content_type.app_label, p.codename): p
            for p in Permission.objects.using(using)
            .select_related("content_type")
            .filter(content_type__app_label__in={app for app, _ in wanted})
            if (p.content_type.app_label, p.codename) in wanted
        }
        group.permissions.set(found.values())
        missing = tuple(sorted(wanted - found.keys()))
        results.append(SyncResult(group=name, granted=len(found), missing=missing))
    return results
