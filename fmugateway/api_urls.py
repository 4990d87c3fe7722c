"""Routes under ``/api/v1/``; each app contributes its own ``api_urls``."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from fmugateway.core.api import api_not_found
from fmugateway.core.api_views import ApiRootView

urlpatterns = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("marketplace.api_urls")),  # first: license checks are the hottest routes
    path("", include("accounts.api_urls")),
    path("", include("registry.api_urls")),
    path("", include("execution.api_urls")),
    path("", include("billing.api_urls")),
    re_path(r"^.*$", api_not_found),
]
