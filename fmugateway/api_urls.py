"""Routes under ``/api/v1/``; each app contributes its own ``api_urls``."""

from django.urls import include, path, re_path

from fmugateway.core.api import api_not_found
from fmugateway.core.api_views import ApiRootView, DocsView, SchemaView

urlpatterns = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("schema/", SchemaView.as_view(api_version="v1"), name="api-schema"),
    path("docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("licensing.api_urls")),  # first: license checks are the hottest routes
    path("", include("marketplace.api_urls")),
    path("", include("accounts.api_urls")),
    path("", include("registry.api_urls")),
    path("", include("execution.api_urls")),
    path("", include("billing.api_urls")),
    path("", include("compliance.api_urls")),
    re_path(r"^[\s\S]*$", api_not_found),  # any path, newlines included
]
