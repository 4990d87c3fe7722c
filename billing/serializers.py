from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import ApiKey, CreditEntry, PayoutItem
from billing.services.costs import ModelSizeClass
from billing.stripe.invoices import invoice_summary
from fmugateway.core.scopes import SCOPES


def PaymentMethodField() -> serializers.RegexField:
    """A Stripe payment method id as Stripe.js makes it (``pm_…``)."""
    return serializers.RegexField(
        r"^pm_[A-Za-z0-9_]{1,250}$",  # Stripe's test cards read pm_card_visa
        required=False,
        allow_blank=True,
        max_length=255,
        error_messages={"invalid": "A Stripe payment method id (pm_...)."},
        help_text="A payment method collected by Stripe.js (`pm_...`); empty: none.",
    )


class ApiKeySerializer(serializers.ModelSerializer):
    prefix = serializers.CharField(read_only=True)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=SCOPES), allow_empty=False, max_length=len(SCOPES)
    )
    is_active = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "expires_at",
            "created_at",
            "last_used_at",
            "revoked_at",
            "is_active",
        ]
        read_only_fields = ["id", "created_at", "last_used_at", "revoked_at"]

    def get_is_active(self, key: ApiKey) -> bool:
        return not key.is_revoked and not key.is_expired()


class NewApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(
        read_only=True, help_text="The full API key. Shown only in this response: store it now."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class TokenRequestSerializer(serializers.Serializer):
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=SCOPES), required=False, allow_empty=False
    )


class TokenSerializer(serializers.Serializer):
    access_token = serializers.CharField(help_text="A JWT (EdDSA).")
    token_type = serializers.ChoiceField(choices=["Bearer"])
    expires_in = serializers.IntegerField(help_text="Seconds.")
    expires_at = serializers.IntegerField(help_text="Unix time.")
    scope = serializers.CharField(help_text="Its scopes, separated by spaces.")


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$"}
)
class DecimalTextField(serializers.Field):
    """An exact decimal as text (Python's notation: ``1E-7`` for tiny amounts)."""

    def to_representation(self, value):
        return value


class CreditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = CreditEntry
        fields = ["id", "kind", "amount", "balance_after", "reference", "memo", "created_at"]


@extend_schema_field(
    {
        "oneOf": [
            {"type": "number", "minimum": 0},
            {"type": "string", "description": 'A word such as "custom" or "negotiated".'},
        ]
    }
)
class UsdAmountField(serializers.Field):
    """USD as a number, or a word when the price is not public."""

    def to_representation(self, value):
        return value  # Decimal overrides render as numbers


class PlanTermsSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    monthly_price_usd = UsdAmountField()
    included_credits = serializers.IntegerField(help_text="Granted each calendar month.")
    overage_rate_per_credit_usd = UsdAmountField()
    overage_limit_credits = serializers.IntegerField(
        help_text="How far below zero the balance may go."
    )
    discount_bps = serializers.IntegerField(help_text="Discount on runs, in basis points.")
    rate_limit_per_minute = serializers.IntegerField()
    max_job_timeout_seconds = serializers.IntegerField()
    max_sweep_size = serializers.IntegerField()
    features = serializers.ListField(child=serializers.CharField())


class PlanSerializer(PlanTermsSerializer):
    """A pricing tier."""

    is_default = serializers.BooleanField(help_text="New accounts are on it.")


class AccountPlanSerializer(PlanTermsSerializer):
    """Your plan: its tier with the terms negotiated for your account applied."""


class CreditBalanceSerializer(serializers.Serializer):
    balance = serializers.IntegerField(help_text="Credits (negative: overage).")
    reserved = serializers.IntegerField(help_text="Held by unfinished jobs.")
    available = serializers.IntegerField(help_text="Balance plus the plan's overage allowance.")
    plan = AccountPlanSerializer()
    cycle = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="Billing month, UTC: YYYY-MM.")
    recent_entries = CreditEntrySerializer(many=True)


class QuoteRequestSerializer(serializers.Serializer):
    cpu_seconds = serializers.FloatField(min_value=0, max_value=10**7)
    memory_mb = serializers.FloatField(min_value=0, max_value=10**7)
    wall_seconds = serializers.FloatField(min_value=0, max_value=10**7)
    model_size_class = serializers.ChoiceField(
        choices=[c.value for c in ModelSizeClass], default=ModelSizeClass.SMALL.value
    )
    premium = serializers.BooleanField(default=False)


class CostBreakdownSerializer(serializers.Serializer):
    """Credits per component (exact decimals), and the rounded-up total."""

    run = DecimalTextField()
    cpu = DecimalTextField()
    memory = DecimalTextField()
    premium_surcharge = DecimalTextField()
    discount = DecimalTextField()
    total = serializers.IntegerField()


class QuoteSerializer(serializers.Serializer):
    credits = serializers.IntegerField()
    breakdown = CostBreakdownSerializer()
    plan = serializers.CharField(help_text="Your plan's code.")
    balance = serializers.IntegerField()
    available = serializers.IntegerField()
    sufficient = serializers.BooleanField(help_text="Whether you can afford it now.")


class JwkSerializer(serializers.Serializer):
    """An Ed25519 public key (RFC 8037)."""

    kty = serializers.CharField(help_text='"OKP".')
    crv = serializers.CharField(help_text='"Ed25519".')
    x = serializers.CharField(help_text="The public key, base64url.")
    kid = serializers.CharField()
    alg = serializers.CharField(help_text='"EdDSA".')
    use = serializers.CharField(help_text='"sig".')


class JwksSerializer(serializers.Serializer):
    """A JSON Web Key Set (RFC 7517): the keys that verify API tokens, current first."""

    keys = JwkSerializer(many=True)


# --- payments --------------------------------------------------------------------------------


class SubscribeSerializer(serializers.Serializer):
    payment_method = PaymentMethodField()


class SubscribeResultSerializer(serializers.Serializer):
    """Without a payment method: ``status`` "checkout", ``checkout_url`` and ``session``. With
    one: the subscription's Stripe status, its id and, when the bank asks the buyer to
    authenticate, ``client_secret``."""

    status = serializers.CharField(
        help_text='"checkout", or the subscription status ("active", "incomplete", ...).'
    )
    checkout_url = serializers.URLField(required=False, help_text="Stripe Checkout.")
    session = serializers.CharField(required=False, help_text="The Checkout Session id.")
    subscription = serializers.CharField(required=False)
    client_secret = serializers.CharField(required=False, allow_null=True)
    publishable_key = serializers.CharField(allow_blank=True, help_text="For Stripe.js.")


class CancelSerializer(serializers.Serializer):
    at_period_end = serializers.BooleanField(default=True)


class CancelResultSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="The subscription's Stripe status.")
    subscription = serializers.CharField()
    cancel_at_period_end = serializers.BooleanField()
    current_period_end = serializers.DateTimeField(allow_null=True)


class CreditPackSerializer(serializers.Serializer):
    credits = serializers.IntegerField(
        help_text="Between CREDIT_PACK_MIN_CREDITS and CREDIT_PACK_MAX_CREDITS; outside them "
        "400 credit_pack_size."
    )
    payment_method = PaymentMethodField()

    def get_fields(self):
        fields = super().get_fields()
        # Documents the settings' range; price_pack enforces it (400 credit_pack_size).
        fields["credits"].min_value = settings.CREDIT_PACK_MIN_CREDITS
        fields["credits"].max_value = settings.CREDIT_PACK_MAX_CREDITS
        return fields


class CreditPackResultSerializer(serializers.Serializer):
    payment_intent = serializers.CharField()
    client_secret = serializers.CharField(allow_null=True, help_text="For Stripe.js.")
    status = serializers.CharField(help_text="The PaymentIntent's Stripe status.")
    credits = serializers.IntegerField()
    amount = serializers.IntegerField(help_text="Price in minor units (cents).")
    currency = serializers.CharField()
    publishable_key = serializers.CharField(allow_blank=True, help_text="For Stripe.js.")


class InvoiceSerializer(serializers.Serializer):
    """A Stripe invoice as dj-stripe last synced it (amounts in minor units)."""

    id = serializers.CharField()
    number = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="draft, open, paid, void, ...")
    currency = serializers.CharField(allow_null=True)
    total = serializers.IntegerField(allow_null=True)
    amount_due = serializers.IntegerField(allow_null=True)
    amount_paid = serializers.IntegerField(allow_null=True)
    created = serializers.DateTimeField(allow_null=True)
    period_start = serializers.DateTimeField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)
    subscription = serializers.CharField(allow_null=True)
    hosted_invoice_url = serializers.URLField(allow_null=True)
    invoice_pdf = serializers.URLField(allow_null=True)

    def to_representation(self, row) -> dict:
        return super().to_representation(invoice_summary(row.stripe_data))


class ConnectOnboardingSerializer(serializers.Serializer):
    account = serializers.CharField(help_text="Your Stripe Connect account, `acct_…`.")
    url = serializers.URLField(help_text="Stripe's onboarding page; open it in a browser.")
    expires_at = serializers.IntegerField(help_text="When the link expires (Unix time).")
    charges_enabled = serializers.BooleanField()
    payouts_enabled = serializers.BooleanField()
    details_submitted = serializers.BooleanField()


class BalanceSerializer(serializers.Serializer):
    currency = serializers.CharField()
    pending = serializers.IntegerField()
    available = serializers.IntegerField()
    in_payout = serializers.IntegerField()
    paid = serializers.IntegerField()


class PayoutItemSerializer(serializers.ModelSerializer):
    batch = serializers.CharField(source="batch.reference")

    class Meta:
        model = PayoutItem
        fields = [
            "id",
            "batch",
            "amount",
            "currency",
            "status",
            "skip_reason",
            "stripe_transfer_id",
            "failure_code",
            "failure_message",
            "paid_at",
            "created_at",
        ]
        read_only_fields = fields


class PayoutsSerializer(serializers.Serializer):
    balances = BalanceSerializer(many=True)
    payouts = PayoutItemSerializer(many=True)
