"""Storefront pages of the marketplace (included from ``fmugateway.urls``)."""

from django.urls import path

from marketplace import views, views_compliance

urlpatterns = [
    path("", views.home, name="home"),
    path("catalog/", views.catalog_view, name="catalog"),
    path("catalog/c/<path:path>/", views.category_view, name="catalog-category"),
    path("creators/<slug:slug>/", views.creator_view, name="creator-profile"),
    path("packages/<slug:slug>/review/", views.review_submit, name="review-submit"),
    path("packages/<slug:slug>/wishlist/", views.wishlist_toggle, name="wishlist-toggle"),
    path("reviews/<int:pk>/vote/", views.review_vote, name="review-vote"),
    path("reviews/<int:pk>/report/", views.review_report, name="review-report"),
    path("reviews/<int:pk>/respond/", views.review_respond, name="review-respond"),
    path("cart/", views.cart_view, name="cart"),
    path("cart/add/", views.cart_add, name="cart-add"),
    path("cart/items/<int:item_id>/remove/", views.cart_remove, name="cart-remove"),
    path("cart/coupon/", views.cart_coupon, name="cart-coupon"),
    path("checkout/", views.checkout, name="checkout"),
    path("account/", views.account_overview, name="account"),
    path("account/licenses/", views.account_licenses, name="account-licenses"),
    path("account/licenses/<int:pk>/", views.account_license, name="account-license"),
    path("account/orders/", views.account_orders, name="account-orders"),
    path("account/orders/<str:number>/", views.account_invoice, name="account-invoice"),
    path("account/orders/<str:number>/pay/", views.order_pay, name="order-pay"),
    path("account/billing/", views.account_billing, name="account-billing"),
    path("account/api-keys/", views.account_api_keys, name="account-api-keys"),
    path("account/wishlist/", views.account_wishlist, name="account-wishlist"),
    path("account/organisations/", views.account_organisations, name="account-organisations"),
    path(
        "account/organisations/<slug:slug>/",
        views.account_organisation,
        name="account-organisation",
    ),
    path("console/packages/<slug:slug>/listings/", views.console_listings, name="console-listings"),
    path("console/sales/", views.console_sales, name="console-sales"),
    path("console/reviews/", views.console_reviews, name="console-reviews"),
    path("console/payouts/", views.console_payouts, name="console-payouts"),
    path("console/takedowns/", views_compliance.console_takedowns, name="console-takedowns"),
    path("dmca/", views_compliance.dmca_complaint, name="dmca-complaint"),
]
