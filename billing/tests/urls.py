"""A probe URLconf for scope tests: the real API plus a view that needs the ``run`` scope."""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.permissions import HasScope


class RunProbeView(APIView):
    permission_classes = [HasScope("run")]

    def post(self, request):
        return Response({"ran": True}, status=201)


urlpatterns = [
    path("api/v1/test/run", RunProbeView.as_view()),
    path("api/v1/", include("fmugateway.api_urls")),
]
