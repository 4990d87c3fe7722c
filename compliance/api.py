"""API for creators' payouts and DMCA takedowns.

GET  /api/v1/creators/me/payouts                       balances and past payouts (yours)
POST /api/v1/dmca/complaints                           file a complaint (no account needed)
GET  /api/v1/dmca/complaints[/{id}]                    complaints you filed or that concern
                                                       your packages (all for moderators)
POST /api/v1/dmca/complaints/{id}/counter-notice       the package owner's answer
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from compliance.models import CounterNotice, TakedownComplaint
from compliance.services import takedowns
from fmugateway.core.middleware import client_ip
from fmugateway.core.scopes import public
from registry.models import Package

# --- Payouts ----------------------------------------------------------------------------------


# --- DMCA takedowns ---------------------------------------------------------------------------


class ComplaintInSerializer(serializers.Serializer):
    """The form's fields (the service checks them: one error lists every problem)."""

    package = serializers.CharField(help_text="The package's slug.")
    complainant_name = serializers.CharField()
    complainant_email = serializers.CharField()
    work_description = serializers.CharField(help_text="The copyrighted work claimed.")
    infringement_details = serializers.CharField(required=False)
    good_faith = serializers.BooleanField(
        help_text="Good-faith belief that the use is not authorised."
    )
    accurate = serializers.BooleanField(
        help_text="Accurate, and authorised to act for the owner, under penalty of perjury."
    )
    signature = serializers.CharField(help_text="Your full name.")


class CounterNoticeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CounterNotice
        fields = [
            "full_name",
            "contact_email",
            "address",
            "statement",
            "good_faith",
            "consent_to_jurisdiction",
            "signature",
            "created_at",
        ]
        read_only_fields = ["created_at"]


class ComplaintSerializer(serializers.ModelSerializer):
    package: serializers.SlugRelatedField[Package] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    counter_notice = CounterNoticeSerializer(
        read_only=True, allow_null=True, help_text="The package owner's answer, once filed."
    )

    class Meta:
        model = TakedownComplaint
        fields = [
            "id",
            "package",
            "status",
            "complainant_name",
            "work_description",
            "infringement_details",
            "moderator_note",
            "counter_notice",
            "created_at",
            "reviewed_at",
            "resolved_at",
        ]
        read_only_fields = fields


def _complaints(user):
    return (
        TakedownComplaint.objects.for_user(user)
        .select_related("package", "counter_notice")
        .order_by("-created_at", "-id")
    )


@extend_schema(tags=["marketplace"], request=ComplaintInSerializer)
class ComplaintListView(generics.ListAPIView):
    """POST: file a DMCA complaint (anyone; rate-limited per IP). GET: yours (signed in)."""

    required_scopes = {"GET": "read", "POST": public()}
    serializer_class = ComplaintSerializer

    def get_queryset(self):
        return _complaints(self.request.user)

    @extend_schema(responses={201: ComplaintSerializer})
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}  # a JSON list: no fields
        complaint = takedowns.submit_complaint(data, user=request.user, ip=client_ip(request))
        return Response(ComplaintSerializer(complaint).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["marketplace"])
class ComplaintDetailView(generics.RetrieveAPIView):
    serializer_class = ComplaintSerializer
    required_scopes = {"GET": "read"}

    def get_queryset(self):
        return _complaints(self.request.user)


@extend_schema(
    tags=["marketplace"], request=CounterNoticeSerializer, responses={201: ComplaintSerializer}
)
class CounterNoticeView(APIView):
    """The package owner's counter-notice (404 for anyone else; 409 unless taken down)."""

    required_scopes = {"POST": "publish"}

    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        data = request.data if isinstance(request.data, dict) else {}  # a JSON list: no fields
        notice = takedowns.file_counter_notice(pk, request.user, data)
        return Response(ComplaintSerializer(notice.complaint).data, status=status.HTTP_201_CREATED)
