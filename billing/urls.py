"""The account's billing and API-key pages and the creator's payouts."""

from django.urls import path

from billing import views

urlpatterns = [
    path("account/billing/", views.account_billing, name="account-billing"),
    path("account/billing/plan/", views.account_plan, name="account-plan"),
    path("account/billing/credits/", views.account_credits, name="account-credits"),
    path("account/api-keys/", views.account_api_keys, name="account-api-keys"),
    path("console/payouts/", views.console_payouts, name="console-payouts"),
]
