"""Marketplace API: creators, listings, cart and checkout, orders, licenses and their checks."""

from __future__ import annotations

from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fmugateway.core.api import validated_query
from fmugateway.core.idempotency import idempotent
from fmugateway.core.middleware import client_ip
from fmugateway.core.scopes import public
from marketplace import payments, services
from marketplace.models import (
    Activation,
    CartItem,
    Creator,
    License,
    Listing,
    Membership,
    Order,
    OrderLine,
    Organisation,
    OrganisationInvitation,
    SeatAssignment,
)
from marketplace.serializers import (
    ActivationQuerySerializer,
    ActivationSerializer,
    AddMemberSerializer,
    AddToCartSerializer,
    AssignSeatSerializer,
    CartSerializer,
    CheckoutSerializer,
    ConnectOnboardingSerializer,
    CouponSerializer,
    CreatorApplySerializer,
    CreatorPrivateSerializer,
    CreatorSerializer,
    LicenseCheckDocumentSerializer,
    LicenseCheckSerializer,
    LicenseOrganisationSerializer,
    LicenseSerializer,
    LicenseWithKeySerializer,
    ListingSerializer,
    MembershipSerializer,
    OfflineLicenseSerializer,
    OrderPayInputSerializer,
    OrderPaymentSerializer,
    OrderSerializer,
    OrganisationCreateSerializer,
    OrganisationInvitationSerializer,
    OrganisationMembersSerializer,
    OrganisationSerializer,
    SeatLicenseSerializer,
    SeatListSerializer,
    SeatSerializer,
)
from marketplace.services import organisations, seats
from marketplace.services.licenses import clean_fingerprint
from marketplace.throttling import LicenseIpThrottle, LicenseKeyThrottle
from registry.models import Package

# --- Creators ---------------------------------------------------------------------------------


@extend_schema(
    tags=["marketplace"], request=CreatorApplySerializer, responses={201: CreatorPrivateSerializer}
)
class CreatorApplyView(APIView):
    required_scopes = {"POST": "publish"}

    def post(self, request: Request) -> Response:
        form = CreatorApplySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        creator = services.apply_as_creator(request.user, **form.validated_data)
        return Response(CreatorPrivateSerializer(creator).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["marketplace"], responses=CreatorPrivateSerializer)
class CreatorMeView(APIView):
    """Your creator profile (404 until you apply)."""

    required_scopes = {"GET": "read"}
    error_statuses = {404}

    def get(self, request: Request) -> Response:
        creator = get_object_or_404(Creator, user=request.user)
        return Response(CreatorPrivateSerializer(creator).data)


@extend_schema(tags=["marketplace"], responses=CreatorSerializer)
class CreatorDetailView(APIView):
    """An approved creator's public profile (your own at any status)."""

    required_scopes = {"GET": public("read")}

    def get(self, request: Request, slug: str) -> Response:
        visible = Q(status=Creator.Status.APPROVED)
        if request.user.is_authenticated:
            visible |= Q(user=request.user)
        creator = get_object_or_404(Creator.objects.filter(visible), slug=slug)
        return Response(CreatorSerializer(creator).data)


# --- Listings ---------------------------------------------------------------------------------


def _package(request: Request, slug: str) -> Package:
    return get_object_or_404(Package.objects.visible_to(request.user), slug=slug)


def _listings_for(request: Request, package: Package):
    listings = Listing.objects.filter(package=package).select_related("package")
    if package.owner_id != getattr(request.user, "pk", None):
        listings = listings.filter(is_active=True)
    return listings


@extend_schema(tags=["marketplace"])
class ListingListView(generics.ListCreateAPIView):
    """A package's listings (SKUs): active ones for everyone, all for its owner, who may add."""

    serializer_class = ListingSerializer
    required_scopes = {"GET": public("read"), "POST": "publish"}

    def get_queryset(self):
        return _listings_for(self.request, _package(self.request, self.kwargs["slug"]))

    def perform_create(self, serializer):
        package = _package(self.request, self.kwargs["slug"])
        serializer.instance = services.create_listing(
            package, self.request.user, **serializer.validated_data
        )


@extend_schema(tags=["marketplace"])
class ListingDetailView(generics.RetrieveUpdateDestroyAPIView):
    """One listing; its owner may change it, and DELETE stops selling it (never deleted)."""

    serializer_class = ListingSerializer
    required_scopes = {"GET": public("read"), "PATCH": "publish", "DELETE": "publish"}
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self):
        package = _package(self.request, self.kwargs["slug"])
        return get_object_or_404(_listings_for(self.request, package), pk=self.kwargs["pk"])

    def perform_update(self, serializer):
        serializer.instance = services.update_listing(
            serializer.instance, self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.deactivate_listing(instance, self.request.user)


# --- Cart and checkout ------------------------------------------------------------------------


def _cart_response(user, code=status.HTTP_200_OK) -> Response:
    cart = services.get_cart(user)
    cart = (
        type(cart)
        .objects.select_related("coupon")
        .prefetch_related(Prefetch("items", CartItem.objects.select_related("listing__package")))
        .get(pk=cart.pk)
    )
    return Response(CartSerializer(cart).data, status=code)


@extend_schema(tags=["marketplace"], responses=CartSerializer)
class CartView(APIView):
    required_scopes = {"GET": "read"}

    def get(self, request: Request) -> Response:
        return _cart_response(request.user)


@extend_schema(tags=["marketplace"], request=AddToCartSerializer, responses={201: CartSerializer})
class CartItemsView(APIView):
    required_scopes = {"POST": "orders"}

    def post(self, request: Request) -> Response:
        form = AddToCartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.add_to_cart(request.user, form.validated_data["listing"])
        return _cart_response(request.user, status.HTTP_201_CREATED)


@extend_schema(tags=["marketplace"], responses={204: None})
class CartItemView(APIView):
    required_scopes = {"DELETE": "orders"}

    def delete(self, request: Request, pk: int) -> Response:
        services.remove_from_cart(request.user, pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["marketplace"], request=CouponSerializer, responses=CartSerializer)
class CartCouponView(APIView):
    required_scopes = {"POST": "orders"}

    def post(self, request: Request) -> Response:
        form = CouponSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.apply_coupon(request.user, form.validated_data.get("code") or None)
        return _cart_response(request.user)


def _orders(user):
    return Order.objects.owned_by(user).prefetch_related(
        Prefetch("lines", OrderLine.objects.select_related("package", "license"))
    )


@extend_schema(tags=["marketplace"], request=None, responses={201: CheckoutSerializer})
class CheckoutView(APIView):
    """Turn the cart into an order. Free orders are paid at once and the answer carries the new
    licenses' keys (shown this once); paid orders stay ``pending`` until the payment succeeds.
    Honours ``Idempotency-Key``."""

    required_scopes = {"POST": "orders"}

    @idempotent
    def post(self, request: Request) -> Response:
        result = services.checkout(request.user)
        order = _orders(request.user).get(pk=result.order.pk)
        keys = {issued.license.pk: issued.key for issued in result.keys if issued.key}
        order.issued_licenses = License.objects.filter(pk__in=keys).select_related(
            "package", "order"
        )
        body = CheckoutSerializer(order, context={"keys": keys}).data
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(
    tags=["marketplace"],
    request=OrderPayInputSerializer,
    responses={201: OrderPaymentSerializer},
)
class OrderPayView(APIView):
    """Pay a pending order with Stripe: the PaymentIntent's ``client_secret`` for Stripe.js
    (the same one each time while it can be paid), or with ``{"checkout": true}`` a Stripe
    Checkout URL. An order with nothing to pay now whose subscription renews at a price (a
    coupon paid the first period) answers a SetupIntent (``setup_intent``, for Stripe.js's
    ``confirmCardSetup``) that keeps the card for the renewals. The order is paid, and its
    licenses issued, when Stripe confirms the payment (or the card). 503 ``payments_unavailable``
    without Stripe. Honours ``Idempotency-Key``."""

    required_scopes = {"POST": "orders"}
    error_statuses = {503}  # payments_unavailable

    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        order = get_object_or_404(Order.objects.owned_by(request.user), pk=pk)
        form = OrderPayInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        if form.validated_data["checkout"]:
            body = payments.start_checkout(order, request.user)
        else:
            body = payments.start_payment(order, request.user)
        return Response(OrderPaymentSerializer(body).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["marketplace"], request=None, responses={201: ConnectOnboardingSerializer})
class CreatorConnectView(APIView):
    """Your Stripe Connect (Express) onboarding link; the account is created on first call.
    Its state (charges and payouts enabled) follows Stripe's ``account.updated`` events."""

    required_scopes = {"POST": "publish"}
    error_statuses = {503}  # payments_unavailable

    def post(self, request: Request) -> Response:
        onboarding = payments.start_connect_onboarding(request.user)
        return Response(
            ConnectOnboardingSerializer(onboarding).data, status=status.HTTP_201_CREATED
        )


# --- Orders -----------------------------------------------------------------------------------


@extend_schema(tags=["marketplace"])
class OrderListView(generics.ListAPIView):
    serializer_class = OrderSerializer
    required_scopes = {"GET": "read"}

    def get_queryset(self):
        return _orders(self.request.user)


@extend_schema(tags=["marketplace"])
class OrderDetailView(generics.RetrieveAPIView):
    serializer_class = OrderSerializer
    required_scopes = {"GET": "read"}

    def get_queryset(self):
        return _orders(self.request.user)


@extend_schema(tags=["marketplace"], request=None, responses=OrderSerializer)
class OrderCancelView(APIView):
    """The buyer abandons a pending order."""

    required_scopes = {"POST": "orders"}

    def post(self, request: Request, pk: int) -> Response:
        order = get_object_or_404(Order.objects.owned_by(request.user), pk=pk)
        services.cancel_order(order, actor=request.user, reason="cancelled by the buyer")
        return Response(OrderSerializer(_orders(request.user).get(pk=pk)).data)


# --- Licenses (owner) -------------------------------------------------------------------------


def _licenses(user):
    return License.objects.owned_by(user).select_related("package", "order")


def _my_license(request: Request, pk: int) -> License:
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


def _with_key(issued: services.IssuedKey, code=status.HTTP_200_OK) -> Response:
    license = License.objects.select_related("package", "order").get(pk=issued.license.pk)
    data = LicenseWithKeySerializer(license, context={"keys": {license.pk: issued.key}}).data
    return Response(data, status=code)


@extend_schema(tags=["marketplace"], request=None, responses=LicenseWithKeySerializer)
class LicenseRotateView(APIView):
    """A new key for the license: the old one stops working now; the new one is shown once."""

    required_scopes = {"POST": "licenses"}

    def post(self, request: Request, pk: int) -> Response:
        return _with_key(services.rotate_key(_my_license(request, pk), request.user))


@extend_schema(tags=["marketplace"], request=None, responses=LicenseSerializer)
class LicenseStopRenewingView(APIView):
    """Stop a subscription license's renewals; it lapses when the paid period ends."""

    required_scopes = {"POST": "licenses"}
    error_statuses = {503}  # payments_unavailable

    def post(self, request: Request, pk: int) -> Response:
        license = payments.stop_renewing(_my_license(request, pk), request.user)
        return Response(LicenseSerializer(license).data)


@extend_schema(tags=["marketplace"], request=None, responses={201: LicenseWithKeySerializer})
class LicenseClaimKeyView(APIView):
    """The first key of a license issued after a payment (shown once; then only rotation)."""

    required_scopes = {"POST": "licenses"}

    def post(self, request: Request, pk: int) -> Response:
        issued = services.claim_key(_my_license(request, pk), request.user)
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
        license = _my_license(self.request, self.kwargs["pk"])
        queryset = Activation.objects.filter(license=license)
        if validated_query(self.request, ActivationQuerySerializer).get("active"):
            queryset = queryset.filter(deactivated_at__isnull=True)
        return queryset


@extend_schema(tags=["marketplace"], responses={200: ActivationSerializer})
class ActivationDetailView(APIView):
    """DELETE frees the machine's activation slot."""

    required_scopes = {"DELETE": "licenses"}

    def delete(self, request: Request, pk: int, activation_id: int) -> Response:
        activation = services.deactivate_activation(
            _my_license(request, pk), activation_id, request.user
        )
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

    def get(self, request: Request, pk: int) -> Response:
        license = _my_license(request, pk)
        fingerprint = clean_fingerprint(request.query_params.get("fingerprint"))
        document = services.offline_license_file(license, fingerprint, request.user)
        response = Response(document)  # as signed
        response["Content-Disposition"] = f'attachment; filename="license-{license.pk}.json"'
        return response


# --- Seats (seat SKUs: named users) ----------------------------------------------------------


@extend_schema(tags=["marketplace"])
class LicenseSeatsView(APIView):
    """The named users of your seat license (the owner holds one seat besides these). POST
    ``{"email"}`` gives a seat to that account, or invites an address without one (the seat is
    bound when it is verified); 409 ``no_seats_left``, ``seat_already_assigned``,
    ``owner_holds_seat``, ``not_a_seat_license`` or ``license_<status>``."""

    required_scopes = {"GET": "read", "POST": "licenses"}

    @extend_schema(responses=SeatListSerializer)
    def get(self, request: Request, pk: int) -> Response:
        license = _my_license(request, pk)
        rows = list(SeatAssignment.objects.active().filter(license=license))
        body = {"seats": license.seats, "used": 1 + len(rows), "results": rows}  # + the owner
        return Response(SeatListSerializer(body).data)

    @extend_schema(request=AssignSeatSerializer, responses={201: SeatSerializer})
    def post(self, request: Request, pk: int) -> Response:
        license = _my_license(request, pk)
        form = AssignSeatSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        seat = seats.assign_seat(license, form.validated_data["email"], actor=request.user)
        return Response(SeatSerializer(seat).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["marketplace"], responses={204: None})
class LicenseSeatView(APIView):
    """DELETE takes the seat back; its user loses access at once."""

    required_scopes = {"DELETE": "licenses"}

    def delete(self, request: Request, pk: int, seat_id: int) -> Response:
        seats.remove_seat(_my_license(request, pk), seat_id, actor=request.user)
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


# --- Organisations (org SKUs) ---------------------------------------------------------------


def _my_organisation(request: Request, slug: str) -> Organisation:
    """Members see their organisations; to anyone else they do not exist (404)."""
    return get_object_or_404(
        Organisation.objects.for_user(request.user).select_related("owner"), slug=slug
    )


@extend_schema(tags=["marketplace"])
class OrganisationListView(generics.ListAPIView):
    """Your organisations; POST ``{"name", "slug"?}`` creates one with you as owner and admin
    (409 ``slug_taken``)."""

    serializer_class = OrganisationSerializer
    required_scopes = {"GET": "read", "POST": "licenses"}

    def get_queryset(self):
        return Organisation.objects.for_user(self.request.user).select_related("owner")

    @extend_schema(request=OrganisationCreateSerializer, responses={201: OrganisationSerializer})
    def post(self, request: Request) -> Response:
        form = OrganisationCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        organisation = organisations.create_organisation(
            request.user, name=form.validated_data["name"], slug=form.validated_data.get("slug")
        )
        return Response(OrganisationSerializer(organisation).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["marketplace"])
class OrganisationMembersView(APIView):
    """Members of one of your organisations (admins also see the open ``invitations``). Admins
    POST ``{"email", "role"?}``: an existing account becomes a member (201); any other address
    is invited by email (202, an invitation its owner takes by signing up and confirming it).
    403 ``not_org_admin``, 409 ``already_member`` / ``already_invited``."""

    required_scopes = {"GET": "read", "POST": "licenses"}

    @extend_schema(responses=OrganisationMembersSerializer)
    def get(self, request: Request, slug: str) -> Response:
        organisation = _my_organisation(request, slug)
        body = {
            "results": Membership.objects.filter(organisation=organisation).select_related("user")
        }
        if organisations.is_admin(organisation, request.user):
            body["invitations"] = OrganisationInvitation.objects.open().filter(
                organisation=organisation
            )
        return Response(OrganisationMembersSerializer(body).data)

    @extend_schema(
        request=AddMemberSerializer,
        responses={201: MembershipSerializer, 202: OrganisationInvitationSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        organisation = _my_organisation(request, slug)
        form = AddMemberSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        added = organisations.add_member(
            organisation,
            form.validated_data["email"],
            role=form.validated_data.get("role"),
            actor=request.user,
        )
        if isinstance(added, OrganisationInvitation):
            return Response(
                OrganisationInvitationSerializer(added).data, status=status.HTTP_202_ACCEPTED
            )
        return Response(MembershipSerializer(added).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["marketplace"], responses={204: None})
class OrganisationInvitationView(APIView):
    """DELETE: an admin withdraws an open invitation."""

    required_scopes = {"DELETE": "licenses"}

    def delete(self, request: Request, slug: str, invitation_id: int) -> Response:
        organisation = _my_organisation(request, slug)
        organisations.cancel_invitation(organisation, invitation_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["marketplace"], responses={204: None})
class OrganisationMemberView(APIView):
    """DELETE: an admin removes a member, or a member removes themselves (leaves)."""

    required_scopes = {"DELETE": "licenses"}

    def delete(self, request: Request, slug: str, member_id: int) -> Response:
        organisation = _my_organisation(request, slug)
        organisations.remove_member(organisation, member_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["marketplace"], request=None, responses={204: None})
class OrganisationLeaveView(APIView):
    """Leave the organisation; its licenses stop entitling you at once."""

    required_scopes = {"POST": "licenses"}

    def post(self, request: Request, slug: str) -> Response:
        organisations.leave(_my_organisation(request, slug), request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    tags=["marketplace"], request=LicenseOrganisationSerializer, responses=LicenseSerializer
)
class LicenseOrganisationView(APIView):
    """POST ``{"organisation": slug}`` gives your org license to an organisation you administer."""

    required_scopes = {"POST": "licenses"}

    def post(self, request: Request, pk: int) -> Response:
        license = _my_license(request, pk)
        form = LicenseOrganisationSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        organisation = _my_organisation(request, form.validated_data["organisation"])
        organisations.attach_license(license, organisation, actor=request.user)
        return Response(LicenseSerializer(_licenses(request.user).get(pk=pk)).data)


# --- License checks by key (installed tools; anonymous: the key is the credential) ------------


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
            services.verify_license(
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
            services.activate_license(
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
            services.deactivate_license(
                args["key"], args["package"], args["fingerprint"], nonce=args["nonce"]
            )
        )
