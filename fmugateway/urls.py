from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from billing.stripe.endpoint import WebhookView
from fmugateway.core.views import favicon, healthz

handler400 = "fmugateway.core.api.handler400"
handler403 = "fmugateway.core.api.handler403"
handler404 = "fmugateway.core.api.handler404"
handler500 = "fmugateway.core.api.handler500"

urlpatterns = [
    path("api/v1/", include("fmugateway.api_urls")),  # first: the busiest prefix
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("stripe/webhook/<uuid:uuid>/", WebhookView.as_view()),  # before dj-stripe's own
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),
    path("", include("execution.urls")),
    path("", include("registry.urls")),
    path("", include("catalog.urls")),
    path("", include("marketplace.urls")),
    path("", include("licensing.urls")),
    path("", include("billing.urls")),
    path("", include("compliance.urls")),
]
