"""A probe URLconf: the real API plus a view that needs the ``run`` scope and one that has no
per-account rate limit."""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView


class RunProbeView(APIView):
    required_scopes = {"POST": "run"}

    def post(self, request):
        return Response({"ran": True}, status=201)


class UnthrottledProbeView(APIView):
    """Authenticates like every API view, but counts nothing per account."""

    required_scopes = {"GET": "read"}
    throttle_classes = []

    def get(self, request):
        return Response({"user": request.user.pk})


urlpatterns = [
    path("api/v1/test/run", RunProbeView.as_view()),
    path("api/v1/test/unthrottled", UnthrottledProbeView.as_view()),
    path("api/v1/", include("fmugateway.api_urls")),
]
