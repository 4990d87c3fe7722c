from __future__ import annotations

from rest_framework import serializers

from marketplace.models import (
    Activation,
    Cart,
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


class CreatorApplySerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=150)
    slug = serializers.SlugField(max_length=80)
    bio = serializers.CharField(required=False, allow_blank=True, default="")
    website = serializers.URLField(required=False, allow_blank=True, default="")
    support_email = serializers.EmailField()


class CreatorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Creator
        fields = ["slug", "display_name", "bio", "website", "support_email", "created_at"]
        read_only_fields = fields


class CreatorPrivateSerializer(serializers.ModelSerializer):
    """What the creator sees of their own profile."""

    class Meta:
        model = Creator
        fields = [
            "slug",
            "display_name",
            "bio",
            "website",
            "support_email",
            "status",
            "review_note",
            "applied_at",
            "reviewed_at",
            "stripe_account_id",
            "charges_enabled",
            "payouts_enabled",
            "details_submitted",
            "created_at",
        ]
        read_only_fields = fields


class ListingSerializer(serializers.ModelSerializer):
    package = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Listing
        fields = [
            "id",
            "package",
            "name",
            "description",
            "kind",
            "pricing_model",
            "price_amount",
            "currency",
            "billing_interval",
            "trial_days",
            "trial_runs",
            "run_quota",
            "max_activations",
            "seats",
            "validity_days",
            "license_template",
            "revenue_share_bps",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "package", "created_at", "updated_at"]
        # Model-level rules live in services.listings.validate_listing (one place for all).
        validators = []


class ListingBriefSerializer(serializers.ModelSerializer):
    package = serializers.SlugRelatedField(slug_field="slug", read_only=True)

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
    coupon = serializers.SlugRelatedField(slug_field="code", read_only=True)
    subtotal_amount = serializers.SerializerMethodField()

    class Meta:
        model = Cart
        fields = ["items", "coupon", "subtotal_amount", "updated_at"]
        read_only_fields = fields

    def get_subtotal_amount(self, cart: Cart) -> int:
        return sum(item.listing.price_amount for item in cart.items.all())


class AddToCartSerializer(serializers.Serializer):
    listing = serializers.IntegerField(min_value=1)


class CouponSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40, allow_blank=True, allow_null=True)


class OrderLineSerializer(serializers.ModelSerializer):
    package = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    license = serializers.PrimaryKeyRelatedField(read_only=True)

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


class LicenseSerializer(serializers.ModelSerializer):
    package = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    order = serializers.SlugRelatedField(slug_field="number", read_only=True)
    status = serializers.SerializerMethodField()
    has_key = serializers.SerializerMethodField()
    renews = serializers.SerializerMethodField()
    entitlements = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = License
        fields = [
            "id",
            "package",
            "listing",
            "order",
            "kind",
            "pricing_model",
            "status",
            "status_reason",
            "key_hint",
            "has_key",
            "entitlements",
            "runs_total",
            "runs_remaining",
            "max_activations",
            "activation_count",
            "seats",
            "organisation",
            "starts_at",
            "expires_at",
            "paid_until",
            "renews",
            "key_rotated_at",
            "terms",
            "created_at",
        ]
        read_only_fields = fields

    def get_status(self, license: License) -> str:
        return license.effective_status()

    def get_has_key(self, license: License) -> bool:
        return bool(license.key_hash)

    def get_renews(self, license: License) -> bool:
        """A subscription that Stripe will bill again at ``paid_until``."""
        return bool(license.subscription_id) and license.subscription_status in (
            "active",
            "trialing",
            "past_due",
        )


class LicenseWithKeySerializer(LicenseSerializer):
    """A license with its key in clear: only in the answer that created the key."""

    key = serializers.SerializerMethodField()

    class Meta(LicenseSerializer.Meta):
        fields = ["key", *LicenseSerializer.Meta.fields]
        read_only_fields = fields

    def get_key(self, license: License) -> str:
        return self.context["keys"].get(license.pk, "")


class ActivationSerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = Activation
        fields = [
            "id",
            "fingerprint",
            "label",
            "ip",
            "activated_at",
            "last_seen_at",
            "deactivated_at",
            "is_active",
        ]
        read_only_fields = fields


class LicenseCheckSerializer(serializers.Serializer):
    """The body of verify / activate / deactivate (documentation; the views parse it by hand)."""

    key = serializers.CharField(help_text="FMUL-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX")
    package = serializers.SlugField(help_text="The package's slug.")
    fingerprint = serializers.CharField(max_length=200, help_text="A stable machine id.")
    entitlement = serializers.ChoiceField(
        choices=["download", "execute"], required=False, help_text="verify: require this one."
    )
    activate = serializers.BooleanField(
        required=False, help_text="verify: activate this machine if a slot is free."
    )
    label = serializers.CharField(required=False, max_length=200, help_text="A machine name.")
    nonce = serializers.CharField(
        required=False, max_length=100, help_text="Echoed in the signed answer (anti-replay)."
    )


class SignedDocumentSerializer(serializers.Serializer):
    payload = serializers.DictField()
    alg = serializers.CharField()
    kid = serializers.CharField()
    signature = serializers.CharField()


class SeatSerializer(serializers.ModelSerializer):
    """A seat as its license's owner sees it."""

    pending = serializers.BooleanField(source="is_pending", read_only=True)

    class Meta:
        model = SeatAssignment
        fields = ["id", "email", "pending", "created_at", "bound_at"]
        read_only_fields = fields


class AssignSeatSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)


class SeatLicenseSerializer(serializers.ModelSerializer):
    """A license as a seat holder sees it: what it entitles them to, never its key."""

    package = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    status = serializers.SerializerMethodField()
    owner = serializers.SerializerMethodField()
    via = serializers.SerializerMethodField()
    organisation = serializers.SerializerMethodField()
    entitlements = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = License
        fields = [
            "id",
            "package",
            "kind",
            "status",
            "owner",
            "via",
            "organisation",
            "entitlements",
            "runs_remaining",
            "starts_at",
            "expires_at",
            "terms",
        ]
        read_only_fields = fields

    def get_status(self, license: License) -> str:
        return license.effective_status()

    def get_owner(self, license: License) -> str:
        return license.owner.get_full_name()

    def get_via(self, license: License) -> str:
        return "organisation" if license.kind == Listing.Kind.ORG else "seat"

    def get_organisation(self, license: License) -> str | None:
        return license.organisation.slug if license.organisation_id else None


class OrganisationSerializer(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()

    class Meta:
        model = Organisation
        fields = ["id", "name", "slug", "owner", "created_at"]
        read_only_fields = fields

    def get_owner(self, organisation: Organisation) -> str:
        return organisation.owner.email


class OrganisationInvitationSerializer(serializers.ModelSerializer):
    pending = serializers.SerializerMethodField()

    class Meta:
        model = OrganisationInvitation
        fields = ["id", "email", "role", "pending", "created_at"]
        read_only_fields = fields

    def get_pending(self, invitation: OrganisationInvitation) -> bool:
        return invitation.accepted_at is None and invitation.cancelled_at is None


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "role", "created_at"]
        read_only_fields = fields
