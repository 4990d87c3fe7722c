"""Moderators moderate, and nothing more: a staff member of the ``Moderators`` group (not a
superuser) walks every admin action, changelist and page. Every action of every ModelAdmin must
have a role decision in ``accounts.roles`` (moderation or staff-only), so a new action without
one fails here."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from accounts.factories import UserFactory
from accounts.models import MODERATORS_GROUP, Creator
from accounts.roles import (
    MODERATION_ACTIONS,
    MODERATOR_PERMISSIONS,
    STAFF_ONLY_ACTIONS,
    STAFF_ONLY_APPS,
)
from billing.models import PayoutBatch
from billing.services.payouts import create_payout_batch
from catalog.models import PackageSearch, Review, ReviewReport
from catalog.services import reviews, search
from compliance.models import TakedownComplaint
from compliance.services import takedowns
from fmugateway.core.admin_site import MODERATION_MODELS, MODERATION_SECTION
from licensing.models import License
from marketplace import services as market
from marketplace.factories import CreatorFactory, ListingFactory
from marketplace.models import Order
from marketplace.tests.fixtures import buy, payments_set_up
from registry.factories import PackageFactory, PackageVersionFactory
from registry.models import Package, ValidationRun

pytestmark = pytest.mark.django_db

COMPLAINT = {
    "complainant_name": "Ada Owner",
    "complainant_email": "ada@rights.example",
    "work_description": "The library 'Pumps' v3.",
    "good_faith": True,
    "accurate": True,
    "signature": "Ada Owner",
}


@pytest.fixture(autouse=True)
def _no_hold(settings):
    settings.CREATOR_EARNINGS_HOLD_DAYS = 0


@pytest.fixture
def mod(db):
    """A moderator as the README makes one: staff, in the group, not a superuser."""
    return UserFactory(moderator=True, is_staff=True)


@pytest.fixture
def mod_client(client, mod):
    client.force_login(mod)
    return client


def label(model) -> str:
    return model._meta.label


def request_as(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def all_actions(superuser) -> set[tuple[str, str]]:
    request = request_as(superuser)
    return {
        (label(model), name)
        for model, model_admin in admin.site._registry.items()
        for name in model_admin.get_actions(request)
        if name != "delete_selected" and model._meta.app_label not in STAFF_ONLY_APPS
    }


@pytest.mark.parametrize("command", ["migrate", "sync_roles"])
def test_migrate_keeps_the_group_as_declared(command):
    group = Group.objects.get(name=MODERATORS_GROUP)
    group.permissions.clear()
    stale = Permission.objects.get(content_type__app_label="billing", codename="view_apikey")
    group.permissions.add(stale)

    call_command(command, verbosity=0, stdout=io.StringIO())

    held = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert held == set(MODERATOR_PERMISSIONS)  # and no declared permission is a typo


def test_every_admin_action_has_a_role_decision(django_user_model):
    superuser = django_user_model.objects.create_superuser("root@example.com", "pw")
    actions = all_actions(superuser)

    undecided = actions - MODERATION_ACTIONS - STAFF_ONLY_ACTIONS
    assert not undecided, f"decide in accounts/roles.py: {sorted(undecided)}"
    assert not (MODERATION_ACTIONS | STAFF_ONLY_ACTIONS) - actions, "stale entries"
    assert not MODERATION_ACTIONS & STAFF_ONLY_ACTIONS


def test_a_moderator_is_offered_exactly_the_moderation_actions(mod):
    request = request_as(mod)
    offered = set()
    for model, model_admin in admin.site._registry.items():
        if model_admin.has_view_permission(request):
            offered |= {(label(model), name) for name in model_admin.get_actions(request)}
    # Models a moderator cannot open offer nothing (the changelist answers 403).
    assert offered == MODERATION_ACTIONS


def _viewable() -> set[str]:
    return {
        f"{app}.{codename.removeprefix('view_')}"
        for app, codename in MODERATOR_PERMISSIONS
        if codename.startswith("view_")
    }


def test_moderators_open_their_changelists_and_nothing_else(mod_client, mod):
    viewable = _viewable()
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        expected = 200 if model._meta.label_lower in viewable else 403
        assert mod_client.get(url).status_code == expected, url


def test_moderators_see_every_inline_of_the_pages_they_open(mod):
    request = request_as(mod)
    hidden = [
        f"{label(model)}: {inline.model._meta.label}"
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_view_permission(request)
        for inline in (cls(model, admin.site) for cls in model_admin.inlines)
        if not inline.has_view_permission(request)
    ]
    # An inline is rendered only for those who may view its model (a counter-notice, seats).
    assert hidden == []


def test_forbidden_areas_answer_403(mod_client, mod):
    other = UserFactory()
    creator = CreatorFactory(status=Creator.Status.PENDING)
    forbidden_get = [
        reverse("admin:auth_user_password_change", args=[other.pk]),
        reverse("admin:accounts_user_add"),
        reverse("admin:billing_apikey_changelist"),
        reverse("admin:registry_publisherkey_changelist"),
        reverse("admin:billing_creditaccount_adjust", args=[1]),
        reverse("admin:djstripe_apikey_changelist"),
        reverse("admin:auth_group_changelist"),
    ]
    for url in forbidden_get:
        assert mod_client.get(url).status_code == 403, url

    # The user page is read-only to a moderator: a POST changes nothing.
    user_url = reverse("admin:accounts_user_change", args=[other.pk])
    assert mod_client.get(user_url).status_code == 200
    response = mod_client.post(
        user_url, {"email": other.email, "is_staff": "on", "is_superuser": "on"}
    )
    assert response.status_code == 403
    other.refresh_from_db()
    assert not other.is_staff and not other.is_superuser

    # A creator's Stripe account is not a moderator's to change; the review note is.
    response = mod_client.post(
        reverse("admin:accounts_creator_change", args=[creator.pk]),
        {"review_note": "Needs a support address.", "stripe_account_id": "acct_attacker"},
    )
    assert response.status_code == 302
    creator.refresh_from_db()
    assert creator.review_note == "Needs a support address."
    assert creator.stripe_account_id != "acct_attacker"


def test_the_sidebar_shows_moderation_first_and_no_stripe_to_moderators(
    mod_client, client, django_user_model
):
    apps = mod_client.get(reverse("admin:index")).context["app_list"]
    assert apps[0]["name"] == MODERATION_SECTION
    shown = [f"{apps[0]['app_label']}.{m['object_name']}" for m in apps[0]["models"]]
    assert [m["admin_url"].split("/")[2:4] for m in apps[0]["models"]] == [
        label.lower().split(".") for label in MODERATION_MODELS
    ]
    assert len(shown) == len(MODERATION_MODELS)
    assert "djstripe" not in {app["app_label"] for app in apps}

    superuser = django_user_model.objects.create_superuser("root@example.com", "pw")
    client.force_login(superuser)
    staff_apps = client.get(reverse("admin:index")).context["app_list"]
    assert staff_apps[0]["name"] == MODERATION_SECTION
    assert "djstripe" in {app["app_label"] for app in staff_apps[-3:]}


# --- every moderation action, run by the moderator, with its effect ---------------------------


@dataclass
class Scenario:
    """Make an object the action applies to; then check what the action did."""

    make: Callable[[Any], Any]
    done: Callable[[Any], bool]


def _listed_package(**kwargs):
    return PackageFactory(owner=CreatorFactory().user, status=Package.Status.LISTED, **kwargs)


def _review(status_after_report: bool = False):
    listing = ListingFactory.create(pricing_model="free", price_amount=0)
    author = UserFactory.create()
    buy(author, listing)
    review = reviews.submit_review(author, listing.package, rating=2, title="Meh")
    if status_after_report:
        reviews.report(UserFactory.create(), review.pk, reason="spam")
    return review


def _complaint(mod, *, taken_down: bool = False):
    package = _listed_package()
    complaint = takedowns.submit_complaint({**COMPLAINT, "package": package.slug})
    complaint.moderator_note = "Checked the notice."
    complaint.save(update_fields=["moderator_note"])
    if taken_down:
        complaint = takedowns.take_down(complaint, mod, "Valid notice.")
    return complaint


def _batch():
    buy(UserFactory(), ListingFactory(price_amount=4900))
    return create_payout_batch()


def _status(model, status):
    return lambda obj: model.objects.get(pk=obj.pk).status == status


def _free_order():
    return buy(UserFactory(), ListingFactory(pricing_model="free", price_amount=0)).order


def _licenses_revoked(order) -> bool:
    return set(License.objects.filter(order=order).values_list("status", flat=True)) == {
        License.Status.REVOKED
    }


def _indexed(row) -> bool:
    return PackageSearch.objects.get(pk=row.pk).indexed_at > row.indexed_at


def _search_row(mod):
    package = _listed_package()
    search.index_packages([package.pk])
    return PackageSearch.objects.get(pk=package.pk)


SCENARIOS: dict[tuple[str, str], Scenario] = {
    ("accounts.Creator", "approve"): Scenario(
        lambda mod: CreatorFactory(status=Creator.Status.PENDING),
        _status(Creator, Creator.Status.APPROVED),
    ),
    ("accounts.Creator", "reject"): Scenario(
        lambda mod: CreatorFactory(status=Creator.Status.PENDING, review_note="No address."),
        _status(Creator, Creator.Status.REJECTED),
    ),
    ("registry.Package", "approve"): Scenario(
        lambda mod: PackageVersionFactory(package__status=Package.Status.IN_REVIEW).package,
        _status(Package, Package.Status.LISTED),
    ),
    ("registry.Package", "reject"): Scenario(
        lambda mod: PackageFactory(status=Package.Status.IN_REVIEW, review_note="No tests."),
        _status(Package, Package.Status.REJECTED),
    ),
    ("registry.PackageVersion", "revalidate"): Scenario(
        lambda mod: PackageVersionFactory(),
        lambda version: ValidationRun.objects.filter(version=version).exists(),
    ),
    ("catalog.Review", "publish"): Scenario(
        lambda mod: _review(True), _status(Review, Review.Status.PUBLISHED)
    ),
    ("catalog.Review", "hold"): Scenario(lambda mod: _review(), _status(Review, "pending")),
    ("catalog.Review", "hide"): Scenario(lambda mod: _review(), _status(Review, "hidden")),
    ("catalog.Review", "remove"): Scenario(lambda mod: _review(), _status(Review, "removed")),
    ("catalog.ReviewReport", "hide_reviews"): Scenario(
        lambda mod: ReviewReport.objects.get(review=_review(True)),
        lambda report: (
            report.review.__class__.objects.get(pk=report.review_id).status == Review.Status.HIDDEN
        ),
    ),
    ("catalog.ReviewReport", "dismiss"): Scenario(
        lambda mod: ReviewReport.objects.get(review=_review(True)),
        lambda report: Review.objects.get(pk=report.review_id).status == Review.Status.PUBLISHED,
    ),
    ("catalog.PackageSearch", "reindex"): Scenario(_search_row, _indexed),
    ("compliance.TakedownComplaint", "take_down"): Scenario(
        _complaint, _status(TakedownComplaint, "taken_down")
    ),
    ("compliance.TakedownComplaint", "reject"): Scenario(
        _complaint, _status(TakedownComplaint, "rejected")
    ),
    ("compliance.TakedownComplaint", "restore"): Scenario(
        lambda mod: _complaint(mod, taken_down=True),
        lambda complaint: Package.objects.get(pk=complaint.package_id).status == "listed",
    ),
    ("compliance.TakedownComplaint", "remove"): Scenario(
        lambda mod: _complaint(mod, taken_down=True),
        _status(TakedownComplaint, "removed"),
    ),
    ("marketplace.Order", "refund_in_full"): Scenario(lambda mod: _free_order(), _licenses_revoked),
    ("marketplace.Order", "cancel"): Scenario(
        lambda mod: _pending_order(),
        _status(Order, Order.Status.CANCELLED),
    ),
    ("marketplace.OrderLine", "refund_lines"): Scenario(
        lambda mod: _free_order().lines.get(),
        lambda line: _licenses_revoked(line.order),
    ),
    ("billing.PayoutBatch", "approve"): Scenario(
        lambda mod: _batch(), _status(PayoutBatch, PayoutBatch.Status.APPROVED)
    ),
    ("billing.PayoutBatch", "cancel"): Scenario(
        lambda mod: _batch(), _status(PayoutBatch, PayoutBatch.Status.CANCELLED)
    ),
}


def _pending_order():
    buyer = UserFactory()
    with payments_set_up():  # a paid order is made only where it can be paid
        market.add_to_cart(buyer, ListingFactory(price_amount=4900).pk)
        return market.checkout(buyer).order


def test_every_moderation_action_has_a_scenario():
    assert set(SCENARIOS) == MODERATION_ACTIONS


@pytest.mark.parametrize("action", sorted(MODERATION_ACTIONS), ids="/".join)
def test_the_moderator_runs_each_moderation_action(
    action, mod_client, mod, django_capture_on_commit_callbacks
):
    model_label, name = action
    scenario = SCENARIOS[action]
    target = scenario.make(mod)
    opts = target._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert mod_client.get(changelist).status_code == 200
    assert (
        mod_client.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[target.pk])
        ).status_code
        == 200
    )

    with django_capture_on_commit_callbacks():
        response = mod_client.post(changelist, {"action": name, "_selected_action": [target.pk]})

    assert response.status_code == 302
    errors = [
        str(m) for m in response.wsgi_request._messages if m.level_tag == "error"
    ]  # a service's refusal shows as an error message
    assert errors == []
    assert scenario.done(target), f"{model_label}.{name} had no effect"
