from drf_spectacular.utils import extend_schema
from rest_framework.generics import RetrieveUpdateAPIView

from accounts.serializers import MeSerializer
from fmugateway.core.audit import record


@extend_schema(tags=["accounts"])
class MeView(RetrieveUpdateAPIView):
    """The authenticated user's own profile."""

    required_scopes = {"GET": "read", "PATCH": "account"}
    serializer_class = MeSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        return self.request.user

    def perform_update(self, serializer):
        before = {"display_name": serializer.instance.display_name}
        user = serializer.save()
        record(
            "accounts.profile.updated",
            actor=user,
            target=user,
            before=before,
            after={"display_name": user.display_name},
        )
