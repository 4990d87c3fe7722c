"""A URLconf for tests: the real one plus probe views that exercise the shared conventions."""

from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from fmugateway.core.idempotency import idempotent
from fmugateway.core.scopes import public


class ExplodingView(APIView):
    required_scopes = {"GET": public()}

    def get(self, request):
        raise RuntimeError("secret internal detail that must not leak")


class ProbeInput(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1)
    note = serializers.CharField(max_length=10, required=False)


class IdempotentProbeView(APIView):
    """Creates an audit entry per real execution, so tests can count executions."""

    required_scopes = {"POST": "run"}
    gate = None  # a threading.Event tests may set to hold the first request

    @idempotent
    def post(self, request):
        from fmugateway.core.audit import record

        data = ProbeInput(data=request.data)
        data.is_valid(raise_exception=True)
        if self.gate is not None:
            self.gate.wait(10)
        entry = record("test.probe", actor=request.user, after=data.validated_data)
        return Response({"entry": entry.pk, "amount": data.validated_data["amount"]}, status=201)


urlpatterns = [
    path("api/v1/test/explode", ExplodingView.as_view()),
    path("api/v1/test/idempotent", IdempotentProbeView.as_view()),
    path("", include("fmugateway.urls")),
]
handler404 = "fmugateway.core.api.handler404"
handler500 = "fmugateway.core.api.handler500"
