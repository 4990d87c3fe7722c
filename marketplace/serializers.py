from __future__ import annotations

import threading
from typing import Any

from rest_framework import serializers

from fmugateway.core.errors import DomainError
from marketplace.models import (
    Activation,
    Cart,
    CartItem,
    Coupon,
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
from marketplace.services.licenses import MAX_FINGERPRINT_LENGTH, VerifyCode, clean_fingerprint
from registry.models import Package
from registry.serializers import SignedDocumentSerializer

MAX_ID = 2**63 - 1  # primary keys are 64-bit


class BlankAsNullURLField(serializers.URLField):
    """A URL that may be unset: answered as null rather than "" (which is no URI)."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value):
        return value or None


class StrictCharField(serializers.CharField):
    """Text that must arrive as a JSON string (numbers, lists and objects are refused)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class CreatorApplySerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=150)
    slug = serializers.SlugField(max_length=80)
    bio = serializers.CharField(required=False, allow_blank=True, default="")
    website = serializers.URLField(required=False, allow_blank=True, default="")
    support_email = serializers.EmailField()


class CreatorSerializer(serializers.ModelSerializer):
    website = BlankAsNullURLField(read_only=True)

    class Meta:
        model = Creator
        fields = ["slug", "display_name", "bio", "website", "support_email", "created_at"]
        read_only_fields = fields


class CreatorPrivateSerializer(serializers.ModelSerializer):
    """What the creator sees of their own profile."""

    website = BlankAsNullURLField(read_only=True)

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
    package: serializers.SlugRelatedField[Package] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

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


class LicenseSerializer(serializers.ModelSerializer):
    package: serializers.SlugRelatedField[Package] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    organisation: serializers.SlugRelatedField[Organisation] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    order: serializers.SlugRelatedField[Order] = serializers.SlugRelatedField(
        slug_field="number", read_only=True, allow_null=True, help_text="None: granted, not sold."
    )
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


class RequiredText(StrictCharField):
    """A string that must be present and not blank; both are ``required`` (as tools expect)."""

    def fail(self, key, **kwargs):
        super().fail("required" if key in ("blank", "null") else key, **kwargs)


class LenientBooleanField(serializers.BooleanField):
    """true, "true", "1" or 1 is true; anything else (null too) false, as tools were told."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def validate_empty_values(self, data):
        if data is None:
            return True, False
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        return data in (True, "true", "1", 1)


class LicenseCheckSerializer(serializers.Serializer):
    """The body of verify / activate / deactivate."""

    # Installed tools call these far more than anything else, and deep-copying the declared
    # fields for every request (DRF's default) was most of the validation's cost. The fields
    # keep no per-request state and read nothing from their parent, so each thread binds them
    # once and reuses them.
    _bound = threading.local()

    @property
    def fields(self):
        fields = getattr(self._bound, "fields", None)
        if fields is None:
            fields = self._bound.fields = serializers.BindingDict(self)
            for name, field in self.get_fields().items():
                fields[name] = field
        return fields

    # Taken as sent (no trimming): the key is hashed as is, the rest is looked up as is.
    key = RequiredText(trim_whitespace=False, help_text="FMUL-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX")
    package = RequiredText(trim_whitespace=False, help_text="The package's slug.")
    fingerprint = RequiredText(
        trim_whitespace=False,
        help_text=f"A stable machine id, 1 to {MAX_FINGERPRINT_LENGTH} characters "
        "(surrounding spaces are dropped).",
    )
    entitlement = serializers.ChoiceField(
        choices=["download", "execute"],
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="verify: require this one.",
    )
    activate = LenientBooleanField(
        required=False, default=False, help_text="verify: activate this machine if a slot is free."
    )
    # A field named like Field.label: DRF's metaclass takes declared fields out of the class.
    label = serializers.CharField(  # type: ignore[assignment]
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        help_text="A machine name (its first 200 characters are kept).",
    )
    nonce = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Echoed in the signed answer (anti-replay; its first 100 characters).",
    )

    def validate_fingerprint(self, value: str) -> str:
        try:
            return clean_fingerprint(value)
        except DomainError:
            raise serializers.ValidationError(
                "Invalid machine fingerprint.", code="invalid"
            ) from None

    def validate_package(self, value: str) -> str:
        return value[:100]

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        values["entitlement"] = values.get("entitlement") or None
        values["label"] = (values.get("label") or "")[:200]
        values["nonce"] = (values.get("nonce") or "")[:100]
        return values


class ActivationInfoSerializer(serializers.Serializer):
    fingerprint = serializers.CharField()
    activated_at = serializers.DateTimeField()
    activations_used = serializers.IntegerField()
    max_activations = serializers.IntegerField()


ENTITLEMENTS = ["download", "execute"]
LICENSE_CHECK_CODES = [value for name, value in vars(VerifyCode).items() if name.isupper()]


class LicenseCheckPayloadSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["fmugateway.license-check"])
    valid = serializers.BooleanField()
    code = serializers.ChoiceField(choices=LICENSE_CHECK_CODES)
    package = serializers.CharField()
    fingerprint = serializers.CharField()
    sku_kind = serializers.ChoiceField(choices=Listing.Kind.choices, allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True, help_text="None: never.")
    entitlements = serializers.ListField(child=serializers.ChoiceField(choices=ENTITLEMENTS))
    remaining_runs = serializers.IntegerField(allow_null=True, help_text="None: unlimited.")
    activation = ActivationInfoSerializer(
        allow_null=True, help_text="This machine's activation, when it has one."
    )
    checked_at = serializers.DateTimeField()
    nonce = serializers.CharField(required=False, help_text="The request's nonce, if it sent one.")


class LicenseCheckDocumentSerializer(SignedDocumentSerializer):
    """The signed answer to a license check (always 200 when the request is well formed)."""

    payload = LicenseCheckPayloadSerializer()


class OfflineLicensePayloadSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["fmugateway.offline-license"])
    license_id = serializers.IntegerField()
    licensee = serializers.EmailField()
    package = serializers.CharField()
    sku_kind = serializers.ChoiceField(choices=Listing.Kind.choices)
    entitlements = serializers.ListField(child=serializers.ChoiceField(choices=ENTITLEMENTS))
    remaining_runs = serializers.IntegerField(allow_null=True, help_text="None: unlimited.")
    fingerprint = serializers.CharField()
    key_hint = serializers.CharField()
    issued_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(help_text="This file's own expiry.")
    license_expires_at = serializers.DateTimeField(allow_null=True, help_text="None: never.")
    terms = serializers.CharField()


class OfflineLicenseSerializer(SignedDocumentSerializer):
    """A signed license file for one activated machine."""

    payload = OfflineLicensePayloadSerializer()


class SeatSerializer(serializers.ModelSerializer):
    """A seat as its license's owner sees it."""

    pending = serializers.BooleanField(source="is_pending", read_only=True)

    class Meta:
        model = SeatAssignment
        fields = ["id", "email", "pending", "created_at", "bound_at"]
        read_only_fields = fields


class AssignSeatSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class SeatListSerializer(serializers.Serializer):
    seats = serializers.IntegerField(
        allow_null=True, help_text="Named users the license allows, its owner included."
    )
    used = serializers.IntegerField(help_text="Seats taken, the owner's included.")
    results = SeatSerializer(many=True, help_text="The seats besides the owner's.")


class SeatLicenseSerializer(serializers.ModelSerializer):
    """A license as a seat holder sees it: what it entitles them to, never its key."""

    package: serializers.SlugRelatedField[Package] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
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
        return license.organisation.slug if license.organisation is not None else None


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


class OrganisationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    slug = serializers.CharField(
        required=False, allow_blank=True, help_text="Made into a slug; from the name if omitted."
    )


class AddMemberSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(
        choices=Membership.Role.choices,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="member unless given.",
    )


class OrganisationMembersSerializer(serializers.Serializer):
    results = MembershipSerializer(many=True)
    invitations = OrganisationInvitationSerializer(
        many=True, required=False, help_text="Open invitations; shown to admins only."
    )


class LicenseOrganisationSerializer(serializers.Serializer):
    organisation = RequiredText(help_text="The slug of an organisation you administer.")


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


class ConnectOnboardingSerializer(serializers.Serializer):
    account = serializers.CharField(help_text="Your Stripe Connect account, `acct_…`.")
    url = serializers.URLField(help_text="Stripe's onboarding page; open it in a browser.")
    expires_at = serializers.IntegerField(help_text="When the link expires (Unix time).")
    charges_enabled = serializers.BooleanField()
    payouts_enabled = serializers.BooleanField()
    details_submitted = serializers.BooleanField()


class ActivationQuerySerializer(serializers.Serializer):
    active = serializers.BooleanField(required=False, help_text="Current activations only.")
