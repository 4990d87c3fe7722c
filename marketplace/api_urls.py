from django.urls import path

from marketplace import api, api_compliance

L = "licenses/<int:pk>"

urlpatterns = [
    # First: installed tools call these far more often than anything else (URLs resolve in order).
    path("licenses/verify", api.LicenseVerifyView.as_view(), name="api-license-verify"),
    path("licenses/activate", api.LicenseActivateView.as_view(), name="api-license-activate"),
    path("licenses/deactivate", api.LicenseDeactivateView.as_view(), name="api-license-deactivate"),
    path("creators/apply", api.CreatorApplyView.as_view(), name="api-creator-apply"),
    path("creators/me", api.CreatorMeView.as_view(), name="api-creator-me"),
    path("creators/me/connect", api.CreatorConnectView.as_view(), name="api-creator-connect"),
    path(
        "creators/me/payouts",
        api_compliance.CreatorPayoutsView.as_view(),
        name="api-creator-payouts",
    ),
    path("creators/<slug:slug>", api.CreatorDetailView.as_view(), name="api-creator-detail"),
    path("packages/<slug:slug>/listings", api.ListingListView.as_view(), name="api-listing-list"),
    path(
        "packages/<slug:slug>/listings/<int:pk>",
        api.ListingDetailView.as_view(),
        name="api-listing-detail",
    ),
    path("cart", api.CartView.as_view(), name="api-cart"),
    path("cart/items", api.CartItemsView.as_view(), name="api-cart-items"),
    path("cart/items/<int:pk>", api.CartItemView.as_view(), name="api-cart-item"),
    path("cart/coupon", api.CartCouponView.as_view(), name="api-cart-coupon"),
    path("checkout", api.CheckoutView.as_view(), name="api-checkout"),
    path("orders", api.OrderListView.as_view(), name="api-order-list"),
    path("orders/<int:pk>", api.OrderDetailView.as_view(), name="api-order-detail"),
    path("orders/<int:pk>/cancel", api.OrderCancelView.as_view(), name="api-order-cancel"),
    path("orders/<int:pk>/pay", api.OrderPayView.as_view(), name="api-order-pay"),
    path("licenses", api.LicenseListView.as_view(), name="api-license-list"),
    path("licenses/held", api.HeldSeatListView.as_view(), name="api-license-held-seats"),
    path(L, api.LicenseDetailView.as_view(), name="api-license-detail"),
    path(f"{L}/rotate", api.LicenseRotateView.as_view(), name="api-license-rotate"),
    path(f"{L}/key", api.LicenseClaimKeyView.as_view(), name="api-license-key"),
    path(f"{L}/stop-renewing", api.LicenseStopRenewingView.as_view(), name="api-license-stop"),
    path(f"{L}/activations", api.ActivationListView.as_view(), name="api-license-activations"),
    path(
        f"{L}/activations/<int:activation_id>",
        api.ActivationDetailView.as_view(),
        name="api-license-activation",
    ),
    path(f"{L}/seats", api.LicenseSeatsView.as_view(), name="api-license-seats"),
    path(f"{L}/seats/<int:seat_id>", api.LicenseSeatView.as_view(), name="api-license-seat"),
    path(f"{L}/organisation", api.LicenseOrganisationView.as_view(), name="api-license-org"),
    path("orgs", api.OrganisationListView.as_view(), name="api-org-list"),
    path("orgs/<slug:slug>/members", api.OrganisationMembersView.as_view(), name="api-org-members"),
    path(
        "orgs/<slug:slug>/members/<int:member_id>",
        api.OrganisationMemberView.as_view(),
        name="api-org-member",
    ),
    path("orgs/<slug:slug>/leave", api.OrganisationLeaveView.as_view(), name="api-org-leave"),
    path(
        "orgs/<slug:slug>/invitations/<int:invitation_id>",
        api.OrganisationInvitationView.as_view(),
        name="api-org-invitation",
    ),
    path(f"{L}/offline", api.OfflineLicenseView.as_view(), name="api-license-offline"),
    path("dmca/complaints", api_compliance.ComplaintListView.as_view(), name="api-dmca-list"),
    path(
        "dmca/complaints/<int:pk>",
        api_compliance.ComplaintDetailView.as_view(),
        name="api-dmca-detail",
    ),
    path(
        "dmca/complaints/<int:pk>/counter-notice",
        api_compliance.CounterNoticeView.as_view(),
        name="api-dmca-counter-notice",
    ),
]
