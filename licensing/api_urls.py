"""License checks (the hottest routes: included first), licenses, activations, seats."""

from django.urls import path

from licensing import api

L = "licenses/<int:pk>"

urlpatterns = [
    # First: installed tools call these far more often than anything else (URLs resolve in order).
    path("licenses/verify", api.LicenseVerifyView.as_view(), name="api-license-verify"),
    path("licenses/activate", api.LicenseActivateView.as_view(), name="api-license-activate"),
    path("licenses/deactivate", api.LicenseDeactivateView.as_view(), name="api-license-deactivate"),
    path("licenses", api.LicenseListView.as_view(), name="api-license-list"),
    path("licenses/held", api.HeldSeatListView.as_view(), name="api-license-held-seats"),
    path(L, api.LicenseDetailView.as_view(), name="api-license-detail"),
    path(f"{L}/rotate", api.LicenseRotateView.as_view(), name="api-license-rotate"),
    path(f"{L}/key", api.LicenseClaimKeyView.as_view(), name="api-license-key"),
    path(f"{L}/activations", api.ActivationListView.as_view(), name="api-license-activations"),
    path(
        f"{L}/activations/<int:activation_id>",
        api.ActivationDetailView.as_view(),
        name="api-license-activation",
    ),
    path(f"{L}/seats", api.LicenseSeatsView.as_view(), name="api-license-seats"),
    path(f"{L}/seats/<int:seat_id>", api.LicenseSeatView.as_view(), name="api-license-seat"),
    path(f"{L}/organisation", api.LicenseOrganisationView.as_view(), name="api-license-org"),
    path(f"{L}/offline", api.OfflineLicenseView.as_view(), name="api-license-offline"),
]
