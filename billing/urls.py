"""The account's billing and API-key pages and the creator's payouts."""

from django.urls import path

from billing import views

urlpatterns = [
    path("account/billing/", views.account_billing, name="account-billing"),
    path("account/api-keys/", views.account_api_keys, name="account-api-keys"),
    path("console/payouts/", views.console_payouts, name="console-payouts"),
]
