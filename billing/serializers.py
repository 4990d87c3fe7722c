from __future__ import annotations

from rest_framework import serializers

from billing.models import ApiKey, CreditEntry
from billing.services.costs import ModelSizeClass
from fmugateway.core.scopes import SCOPES


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
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    expires_at = serializers.IntegerField()
    scope = serializers.CharField()


class CreditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = CreditEntry
        fields = ["id", "kind", "amount", "balance_after", "reference", "memo", "created_at"]


class PlanSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    monthly_price_usd = serializers.JSONField()
    included_credits = serializers.IntegerField()
    overage_rate_per_credit_usd = serializers.JSONField()
    overage_limit_credits = serializers.IntegerField()
    discount_bps = serializers.IntegerField()
    rate_limit_per_minute = serializers.IntegerField()
    max_job_timeout_seconds = serializers.IntegerField()
    max_sweep_size = serializers.IntegerField()
    features = serializers.ListField(child=serializers.CharField())


class QuoteRequestSerializer(serializers.Serializer):
    cpu_seconds = serializers.FloatField(min_value=0, max_value=10**7)
    memory_mb = serializers.FloatField(min_value=0, max_value=10**7)
    wall_seconds = serializers.FloatField(min_value=0, max_value=10**7)
    model_size_class = serializers.ChoiceField(
        choices=[c.value for c in ModelSizeClass], default=ModelSizeClass.SMALL.value
    )
    premium = serializers.BooleanField(default=False)
