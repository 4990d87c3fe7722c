from __future__ import annotations

from typing import Any

from rest_framework import serializers

from fmugateway.core.fields import MAX_ID
from licensing.models import License
from licensing.serializers import LenientBooleanField, LicenseWithKeySerializer
from marketplace.models import Cart, CartItem, Coupon, Listing, Order, OrderLine
from marketplace.services.listings import EDITABLE
from registry.models import Package


class ListingSerializer(serializers.ModelSerializer):
    package: serializers.SlugRelatedField[Package] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = Listing
        fields = ["id", "package", *EDITABLE, "created_at", "updated_at"]
        read_only_fields = ["id", "package", "created_at", "updated_at"]
        # Model-level rules live in services.listings.validate_listing (one place for all);
        # the numbers' ranges come from the model's validators (LISTING_MAX_*).
        validators: list[Any] = []


class ListingBriefSerializer(serializers.ModelSerializer):
    package: serializers.SlugRelatedField[Package] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = Listing
        fields = ["id", "package", "name", "kind", "pricing_model", "price_amount", "currency"]
        read_only_fields = fields


class CartItemSerializer(serializers.ModelSerializer):
    listing = ListingBriefSerializer(read_only=True)

    class Meta:
        model = CartItem
        fields = ["id", "listing", "created_at"]
        read_only_fields = fields


class CartSerializer(serializers.ModelSerializer):
    items = CartItemSerializer(many=True, read_only=True)
    coupon: serializers.SlugRelatedField[Coupon] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    subtotal_amount = serializers.SerializerMethodField()

    class Meta:
        model = Cart
        fields = ["items", "coupon", "subtotal_amount", "updated_at"]
        read_only_fields = fields

    def get_subtotal_amount(self, cart: Cart) -> int:
        return sum(item.listing.price_amount for item in cart.items.all())


class AddToCartSerializer(serializers.Serializer):
    listing = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class CouponSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40, allow_blank=True, allow_null=True)


class OrderLineSerializer(serializers.ModelSerializer):
    package: serializers.SlugRelatedField[Package] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    license: serializers.PrimaryKeyRelatedField[License] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="Issued once the order is paid."
    )

    class Meta:
        model = OrderLine
        fields = [
            "id",
            "listing",
            "package",
            "description",
            "kind",
            "pricing_model",
            "currency",
            "unit_amount",
            "discount_amount",
            "amount",
            "refunded_amount",
            "license",
        ]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)
    awaits_payment = serializers.BooleanField(
        read_only=True,
        help_text="Pending with money to take, or a card to give for a subscription's renewals "
        "(a coupon paid its first period): pay it with POST /orders/{id}/pay.",
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "number",
            "status",
            "currency",
            "subtotal_amount",
            "discount_amount",
            "total_amount",
            "refunded_amount",
            "coupon_code",
            "awaits_payment",
            "payment_reference",
            "paid_at",
            "closed_at",
            "created_at",
            "lines",
        ]
        read_only_fields = fields


class CheckoutSerializer(OrderSerializer):
    """The new order; a free one is paid at once and carries its licenses' keys (shown once)."""

    licenses = LicenseWithKeySerializer(source="issued_licenses", many=True, read_only=True)

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "licenses"]
        read_only_fields = fields


class OrderPayInputSerializer(serializers.Serializer):
    checkout = LenientBooleanField(
        required=False, default=False, help_text="Answer a Stripe Checkout URL instead."
    )


class OrderPaymentSerializer(serializers.Serializer):
    """How to pay: a PaymentIntent (or, with nothing to pay now but renewals, a SetupIntent) for
    Stripe.js, or with ``checkout`` a Stripe Checkout page."""

    order = serializers.IntegerField()
    number = serializers.CharField()
    payment_intent = serializers.CharField(required=False, help_text="`pi_…`")
    setup_intent = serializers.CharField(required=False, help_text="`seti_…`: keeps the card.")
    client_secret = serializers.CharField(
        required=False, allow_null=True, help_text="For Stripe.js."
    )
    status = serializers.CharField(
        required=False, allow_null=True, help_text="The intent's status at Stripe."
    )
    amount = serializers.IntegerField(required=False, help_text="Minor units.")
    currency = serializers.CharField(required=False)
    publishable_key = serializers.CharField(required=False, allow_blank=True)
    checkout_url = serializers.URLField(required=False, help_text="Stripe Checkout's page.")
    session = serializers.CharField(required=False, help_text="The Checkout session, `cs_…`.")
