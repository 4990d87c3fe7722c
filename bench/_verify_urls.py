"""The product's URLs plus the baseline of ``bench_license_verify.py``.

``POST /bench/bare-verify``: a bare DRF view doing what any key check must do and no more: HMAC
of the presented key, one indexed lookup, a small JSON answer. No throttles, no signature.
"""

import hashlib
import hmac

from django.conf import settings
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from licensing.models import License


class BareVerifyView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []
    renderer_classes = [JSONRenderer]

    def post(self, request):
        raw = str(request.data.get("key", "")).replace("-", "").upper()
        digest = hmac.new(settings.KEY_HASH_SECRET.encode(), raw.encode(), hashlib.sha256)
        row = (
            License.objects.filter(key_hash=digest.hexdigest())
            .values("status", "expires_at")
            .first()
        )
        return Response({"valid": row is not None and row["status"] == "active"})


urlpatterns = [
    path("bench/bare-verify", BareVerifyView.as_view()),
    path("", include("fmugateway.urls")),
]
