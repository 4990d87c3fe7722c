"""The admin site: what moderators use comes first, in the order they work through it, and
dj-stripe's many models come last (moderators hold no djstripe permission, so they never see
them; staff still do). Models are named by label: the core must not import the apps above it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.urls import reverse

MODERATION_SECTION = "Moderation"
# Creators, submissions, reviews and reports, takedowns, orders and refunds, payouts, audit log.
MODERATION_MODELS: tuple[str, ...] = (
    "accounts.Creator",
    "registry.Package",
    "registry.PackageVersion",
    "catalog.Review",
    "catalog.ReviewReport",
    "compliance.TakedownComplaint",
    "marketplace.Order",
    "marketplace.Refund",
    "billing.PayoutBatch",
    "core.AuditEntry",
)
LAST_APPS = ("djstripe", "axes", "auth")


class GatewayAdminSite(admin.AdminSite):
    site_header = "FMU Gateway administration"
    site_title = "FMU Gateway admin"

    def get_app_list(
        self, request: HttpRequest, app_label: str | None = None
    ) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        picked: dict[str, dict[str, Any]] = {}
        for app in apps:
            kept = []
            for model in app["models"]:
                label = f"{app['app_label']}.{model['object_name']}"
                if label in MODERATION_MODELS:
                    picked[label] = model
                else:
                    kept.append(model)
            app["models"] = kept
        rest = [app for app in apps if app["models"]]
        rest.sort(key=lambda app: (app["app_label"] in LAST_APPS, app["name"].lower()))
        if not picked:
            return rest
        moderation = {
            "name": MODERATION_SECTION,
            "app_label": "moderation",
            "app_url": reverse("admin:index", current_app=self.name),
            "has_module_perms": True,
            "models": [picked[label] for label in MODERATION_MODELS if label in picked],
        }
        return [moderation, *rest]


class GatewayAdminConfig(AdminConfig):
    default_site = "fmugateway.core.admin_site.GatewayAdminSite"
