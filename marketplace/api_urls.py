from django.urls import path

from marketplace import api

L = "licenses/<int:pk>"

urlpatterns = [
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
    path(f"{L}/stop-renewing", api.LicenseStopRenewingView.as_view(), name="api-license-stop"),
]
