"""Commerce pages: cart, checkout, paying orders, the buyer's orders, the creator's listings."""

from django.urls import path

from marketplace import views

urlpatterns = [
    path("cart/", views.cart_view, name="cart"),
    path("cart/add/", views.cart_add, name="cart-add"),
    path("cart/items/<int:item_id>/remove/", views.cart_remove, name="cart-remove"),
    path("cart/coupon/", views.cart_coupon, name="cart-coupon"),
    path("checkout/", views.checkout, name="checkout"),
    path("account/orders/", views.account_orders, name="account-orders"),
    path("account/orders/<str:number>/", views.account_invoice, name="account-invoice"),
    path("account/orders/<str:number>/pay/", views.order_pay, name="order-pay"),
    path("account/orders/<str:number>/complete/", views.order_complete, name="order-complete"),
    path("console/packages/<slug:slug>/listings/", views.console_listings, name="console-listings"),
    path("console/sales/", views.console_sales, name="console-sales"),
]
