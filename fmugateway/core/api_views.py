from django.urls import reverse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fmugateway.core.scopes import ScopeRequired, public


class ApiRootView(APIView):
    """Entry point of the API: its version and where the schema and docs live."""

    required_scopes = {"GET": public()}

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(
            {
                "name": "FMU Gateway API",
                "version": "v1",
                "schema": request.build_absolute_uri(reverse("api-schema")),
                "docs": request.build_absolute_uri(reverse("api-docs")),
            }
        )


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 document (public)."""

    permission_classes = [ScopeRequired]
    required_scopes = {"GET": public()}


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI over the schema, from our static files; its init script is a separate
    request (``?script=``), so the page runs under the CSP without inline scripts (public)."""

    permission_classes = [ScopeRequired]
    required_scopes = {"GET": public()}
