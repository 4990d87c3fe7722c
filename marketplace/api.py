"""Marketplace API: creators, listings, cart and checkout, orders, licenses and their checks."""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from fmugateway.core.idempotency import idempotent
from fmugateway.core.scopes import public
from licensing.api import my_license
from licensing.models import License
from licensing.serializers import (
    LicenseSerializer,
)
from marketplace import payments, services
from marketplace.models import CartItem, Listing, Order, OrderLine
from marketplace.serializers import (
    AddToCartSerializer,
    CartSerializer,
    CheckoutSerializer,
    CouponSerializer,
    ListingSerializer,
    OrderPayInputSerializer,
    OrderPaymentSerializer,
    OrderSerializer,
)
from registry.models import Package

# --- Creators ---------------------------------------------------------------------------------


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
    """Add a SKU to your cart; a paid one only where payments are set up (503
    ``payments_unavailable``)."""

    required_scopes = {"POST": "orders"}
    error_statuses = {503}  # payments_unavailable

    def post(self, request: AuthenticatedRequest) -> Response:
        form = AddToCartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.add_to_cart(request.user, form.validated_data["listing"])
        return _cart_response(request.user, status.HTTP_201_CREATED)


@extend_schema(tags=["marketplace"], responses={204: None})
class CartItemView(APIView):
    required_scopes = {"DELETE": "orders"}

    def delete(self, request: AuthenticatedRequest, pk: int) -> Response:
        services.remove_from_cart(request.user, pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["marketplace"], request=CouponSerializer, responses=CartSerializer)
class CartCouponView(APIView):
    required_scopes = {"POST": "orders"}

    def post(self, request: AuthenticatedRequest) -> Response:
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
    Where payments are not set up a cart with anything to pay is refused, and no order made
    (503 ``payments_unavailable``). Honours ``Idempotency-Key``."""

    required_scopes = {"POST": "orders"}
    error_statuses = {503}  # payments_unavailable

    @idempotent
    def post(self, request: AuthenticatedRequest) -> Response:
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

    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        order = get_object_or_404(Order.objects.owned_by(request.user), pk=pk)
        services.cancel_order(order, actor=request.user, reason="cancelled by the buyer")
        return Response(OrderSerializer(_orders(request.user).get(pk=pk)).data)


# --- Licenses (owner) -------------------------------------------------------------------------


@extend_schema(tags=["marketplace"], request=None, responses=LicenseSerializer)
class LicenseStopRenewingView(APIView):
    """Stop a subscription license's renewals; it lapses when the paid period ends."""

    required_scopes = {"POST": "licenses"}
    error_statuses = {503}  # payments_unavailable

    def post(self, request: Request, pk: int) -> Response:
        license = payments.stop_renewing(my_license(request, pk), request.user)
        return Response(LicenseSerializer(license).data)


# --- Seats (seat SKUs: named users) ----------------------------------------------------------


# --- Organisations (org SKUs) ---------------------------------------------------------------


# --- License checks by key (installed tools; anonymous: the key is the credential) ------------
