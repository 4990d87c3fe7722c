from django.urls import path

from billing import api

urlpatterns = [
    path("api-keys", api.ApiKeyListCreateView.as_view(), name="api-key-list"),
    path("api-keys/<int:pk>", api.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("auth/token", api.TokenView.as_view(), name="api-auth-token"),
    path("auth/jwks", api.JwksView.as_view(), name="api-auth-jwks"),
    path("billing/plans", api.PlanListView.as_view(), name="api-billing-plans"),
    path("billing/balance", api.BalanceView.as_view(), name="api-billing-balance"),
    path("billing/ledger", api.LedgerView.as_view(), name="api-billing-ledger"),
    path("billing/quote", api.QuoteView.as_view(), name="api-billing-quote"),
    path("billing/subscribe", api.SubscribeView.as_view(), name="api-billing-subscribe"),
    path("billing/cancel", api.CancelSubscriptionView.as_view(), name="api-billing-cancel"),
    path("billing/credit-packs", api.CreditPackView.as_view(), name="api-billing-credit-packs"),
    path("billing/invoices", api.InvoiceListView.as_view(), name="api-billing-invoices"),
    path("creators/me/connect", api.CreatorConnectView.as_view(), name="api-creator-connect"),
    path(
        "creators/me/payouts",
        api.CreatorPayoutsView.as_view(),
        name="api-creator-payouts",
    ),
]
