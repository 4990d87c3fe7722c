from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from rest_framework import serializers

from fmugateway.core.errors import DomainError
from fmugateway.core.fields import StrictCharField
from licensing.models import Activation, License, LicenseKind, SeatAssignment
from licensing.services.licenses import MAX_FINGERPRINT_LENGTH, VerifyCode, clean_fingerprint
from registry.models import Package
from registry.serializers import SignedDocumentSerializer

if TYPE_CHECKING:  # names in annotations only
    from accounts.models import Organisation
    from marketplace.models import Order


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
    sku_kind = serializers.ChoiceField(choices=LicenseKind.choices, allow_null=True)
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
    sku_kind = serializers.ChoiceField(choices=LicenseKind.choices)
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
        return "organisation" if license.kind == LicenseKind.ORG else "seat"

    def get_organisation(self, license: License) -> str | None:
        return license.organisation.slug if license.organisation is not None else None


class LicenseOrganisationSerializer(serializers.Serializer):
    organisation = RequiredText(help_text="The slug of an organisation you administer.")


class ActivationQuerySerializer(serializers.Serializer):
    active = serializers.BooleanField(required=False, help_text="Current activations only.")
