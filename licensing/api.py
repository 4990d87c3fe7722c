from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import my_organisation
from accounts.http import AuthenticatedRequest
from fmugateway.core.api import validated_query
from fmugateway.core.middleware import client_ip
from fmugateway.core.scopes import public
from licensing.check_throttles import LicenseIpThrottle, LicenseKeyThrottle
from licensing.models import Activation, License, SeatAssignment
from licensing.serializers import (
    ActivationQuerySerializer,
    ActivationSerializer,
    AssignSeatSerializer,
    LicenseCheckDocumentSerializer,
    LicenseCheckSerializer,
    LicenseOrganisationSerializer,
    LicenseSerializer,
    LicenseWithKeySerializer,
    OfflineLicenseSerializer,
    SeatLicenseSerializer,
    SeatListSerializer,
    SeatSerializer,
)
from licensing.services import seats
from licensing.services.licenses import (
    IssuedKey,
    activate_license,
    claim_key,
    clean_fingerprint,
    deactivate_activation,
    deactivate_license,
    offline_license_file,
    rotate_key,
    verify_license,
)


def _licenses(user):
    return License.objects.owned_by(user).select_related("package", "order")


def my_license(request: Request, pk: int) -> License:
    return get_object_or_404(_licenses(request.user), pk=pk)


@extend_schema(
    tags=["marketplace"],
    parameters=[OpenApiParameter("package", str, description="Only this package's (slug).")],
)
class LicenseListView(generics.ListAPIView):
    """Your licenses (keys are never shown again; ``key_hint`` helps you recognise them)."""

    serializer_class = LicenseSerializer
    required_scopes = {"GET": "read"}

    def get_queryset(self):
        queryset = _licenses(self.request.user)
        if self.request.query_params.get("package"):
            queryset = queryset.filter(package__slug=self.request.query_params["package"])
        return queryset


@extend_schema(tags=["marketplace"])
class LicenseDetailView(generics.RetrieveAPIView):
    serializer_class = LicenseSerializer
    required_scopes = {"GET": "read"}

    def get_queryset(self):
        return _licenses(self.request.user)


def _with_key(issued: IssuedKey, code=status.HTTP_200_OK) -> Response:
    license = License.objects.select_related("package", "order").get(pk=issued.license.pk)
    data = LicenseWithKeySerializer(license, context={"keys": {license.pk: issued.key}}).data
    return Response(data, status=code)


@extend_schema(tags=["marketplace"], request=None, responses=LicenseWithKeySerializer)
class LicenseRotateView(APIView):
    """A new key for the license: the old one stops working now; the new one is shown once."""

    required_scopes = {"POST": "licenses"}

    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        return _with_key(rotate_key(my_license(request, pk), request.user))


@extend_schema(tags=["marketplace"], request=None, responses={201: LicenseWithKeySerializer})
class LicenseClaimKeyView(APIView):
    """The first key of a license issued after a payment (shown once; then only rotation)."""

    required_scopes = {"POST": "licenses"}

    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        issued = claim_key(my_license(request, pk), request.user)
        return _with_key(issued, status.HTTP_201_CREATED)


@extend_schema(
    tags=["marketplace"],
    parameters=[ActivationQuerySerializer],
)
class ActivationListView(generics.ListAPIView):
    """The machines a license of yours is (or was) activated on; ``?active=1`` for current."""

    serializer_class = ActivationSerializer
    required_scopes = {"GET": "read"}

    def get_queryset(self):
        license = my_license(self.request, self.kwargs["pk"])
        queryset = Activation.objects.filter(license=license)
        if validated_query(self.request, ActivationQuerySerializer).get("active"):
            queryset = queryset.filter(deactivated_at__isnull=True)
        return queryset


@extend_schema(tags=["marketplace"], responses={200: ActivationSerializer})
class ActivationDetailView(APIView):
    """DELETE frees the machine's activation slot."""

    required_scopes = {"DELETE": "licenses"}

    def delete(self, request: AuthenticatedRequest, pk: int, activation_id: int) -> Response:
        activation = deactivate_activation(my_license(request, pk), activation_id, request.user)
        return Response(ActivationSerializer(activation).data)


@extend_schema(
    tags=["marketplace"],
    parameters=[OpenApiParameter("fingerprint", str, required=True)],
    responses=OfflineLicenseSerializer,
)
class OfflineLicenseView(APIView):
    """A signed offline license file for one activated machine (Ed25519, platform key); 409
    ``fingerprint_not_activated`` or ``license_<status>``."""

    required_scopes = {"GET": "licenses"}
    error_statuses = {409}

    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        license = my_license(request, pk)
        fingerprint = clean_fingerprint(request.query_params.get("fingerprint"))
        document = offline_license_file(license, fingerprint, request.user)
        response = Response(document)  # as signed
        response["Content-Disposition"] = f'attachment; filename="license-{license.pk}.json"'
        return response


@extend_schema(tags=["marketplace"])
class LicenseSeatsView(APIView):
    """The named users of your seat license (the owner holds one seat besides these). POST
    ``{"email"}`` gives a seat to that account, or invites an address without one (the seat is
    bound when it is verified); 409 ``no_seats_left``, ``seat_already_assigned``,
    ``owner_holds_seat``, ``not_a_seat_license`` or ``license_<status>``."""

    required_scopes = {"GET": "read", "POST": "licenses"}

    @extend_schema(responses=SeatListSerializer)
    def get(self, request: Request, pk: int) -> Response:
        license = my_license(request, pk)
        rows = list(SeatAssignment.objects.active().filter(license=license))
        body = {"seats": license.seats, "used": 1 + len(rows), "results": rows}  # + the owner
        return Response(SeatListSerializer(body).data)

    @extend_schema(request=AssignSeatSerializer, responses={201: SeatSerializer})
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        license = my_license(request, pk)
        form = AssignSeatSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        seat = seats.assign_seat(license, form.validated_data["email"], actor=request.user)
        return Response(SeatSerializer(seat).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["marketplace"], responses={204: None})
class LicenseSeatView(APIView):
    """DELETE takes the seat back; its user loses access at once."""

    required_scopes = {"DELETE": "licenses"}

    def delete(self, request: AuthenticatedRequest, pk: int, seat_id: int) -> Response:
        seats.remove_seat(my_license(request, pk), seat_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["marketplace"])
class HeldSeatListView(generics.ListAPIView):
    """Licenses others own that you enjoy, through a seat (``via: seat``) or an organisation
    you belong to (``via: organisation``): entitlements and status, never a key."""

    serializer_class = SeatLicenseSerializer
    required_scopes = {"GET": "read"}

    def get_queryset(self):
        user = self.request.user
        held = License.objects.seated(user) | License.objects.via_organisations(user)
        return held.select_related("package", "owner", "organisation")


@extend_schema(
    tags=["marketplace"], request=LicenseOrganisationSerializer, responses=LicenseSerializer
)
class LicenseOrganisationView(APIView):
    """POST ``{"organisation": slug}`` gives your org license to an organisation you administer."""

    required_scopes = {"POST": "licenses"}

    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        license = my_license(request, pk)
        form = LicenseOrganisationSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        organisation = my_organisation(request, form.validated_data["organisation"])
        seats.attach_license(license, organisation, actor=request.user)
        return Response(LicenseSerializer(_licenses(request.user).get(pk=pk)).data)


def _check_input(request: Request) -> dict:
    form = LicenseCheckSerializer(data=request.data)
    form.is_valid(raise_exception=True)
    return form.validated_data


class _LicenseCheckView(APIView):
    authentication_classes = []
    required_scopes = {"POST": public()}
    throttle_classes = [LicenseIpThrottle, LicenseKeyThrottle]
    renderer_classes = [JSONRenderer]


@extend_schema(
    tags=["licenses"], request=LicenseCheckSerializer, responses=LicenseCheckDocumentSerializer
)
class LicenseVerifyView(_LicenseCheckView):
    """Is this key good for this package on this machine? A signed answer whose payload holds
    ``valid``, ``code`` (VALID, NOT_FOUND, EXPIRED, REVOKED, SUSPENDED, TOO_MANY_ACTIVATIONS,
    FINGERPRINT_MISMATCH, NO_ENTITLEMENT), ``package``, ``sku_kind``, ``expires_at``,
    ``entitlements``, ``remaining_runs`` and ``activation``. Always 200 when well-formed."""

    def post(self, request: Request) -> Response:
        args = _check_input(request)
        return Response(
            verify_license(
                args["key"],
                args["package"],
                args["fingerprint"],
                entitlement=args["entitlement"],
                nonce=args["nonce"],
                activate=args["activate"],
                label=args["label"],
                ip=client_ip(request),
            )
        )


@extend_schema(
    tags=["licenses"], request=LicenseCheckSerializer, responses=LicenseCheckDocumentSerializer
)
class LicenseActivateView(_LicenseCheckView):
    """Activate this machine (idempotent); ``TOO_MANY_ACTIVATIONS`` when every slot is taken."""

    def post(self, request: Request) -> Response:
        args = _check_input(request)
        return Response(
            activate_license(
                args["key"],
                args["package"],
                args["fingerprint"],
                label=args["label"],
                ip=client_ip(request),
                nonce=args["nonce"],
            )
        )


@extend_schema(
    tags=["licenses"], request=LicenseCheckSerializer, responses=LicenseCheckDocumentSerializer
)
class LicenseDeactivateView(_LicenseCheckView):
    """Free this machine's slot; ``FINGERPRINT_MISMATCH`` when it was not activated."""

    def post(self, request: Request) -> Response:
        args = _check_input(request)
        return Response(
            deactivate_license(
                args["key"], args["package"], args["fingerprint"], nonce=args["nonce"]
            )
        )
