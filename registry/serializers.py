from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from registry.models import (
    Package,
    PackageVersion,
    PublisherKey,
    TestVector,
    ValidationRun,
    Variable,
)


class PackageSerializer(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()
    latest_version = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Package
        fields = [
            "id",
            "slug",
            "name",
            "summary",
            "description",
            "category",
            "tags",
            "license_text",
            "is_free",
            "status",
            "review_note",
            "owner",
            "latest_version",
            "url",
            "submitted_at",
            "listed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "review_note",
            "submitted_at",
            "listed_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"slug": {"required": False}}

    def get_owner(self, package: Package) -> dict:
        return {"id": package.owner_id, "name": package.owner.get_full_name()}

    def get_latest_version(self, package: Package) -> str | None:
        latest = getattr(package, "latest_version_number", None)
        return latest

    def get_url(self, package: Package) -> str:
        return reverse("api-package-detail", kwargs={"slug": package.slug})

    def validate_tags(self, tags):
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise serializers.ValidationError("Give tags as a list of strings.", code="invalid")
        cleaned = sorted({tag.strip().lower()[:50] for tag in tags if tag.strip()})
        if len(cleaned) > 20:
            raise serializers.ValidationError("At most 20 tags.", code="too_many")
        return cleaned


class VariableSerializer(serializers.ModelSerializer):
    class Meta:
        model = Variable
        fields = [
            "name",
            "value_reference",
            "causality",
            "variability",
            "initial",
            "type",
            "unit",
            "start",
            "min",
            "max",
            "nominal",
            "description",
        ]


class ValidationRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ValidationRun
        fields = [
            "id",
            "status",
            "progress",
            "stage",
            "error_code",
            "error_message",
            "validator_version",
            "fmpy_version",
            "created_at",
            "started_at",
            "finished_at",
            "report",
        ]


class VersionSerializer(serializers.ModelSerializer):
    package = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    kinds = serializers.ListField(child=serializers.CharField(), read_only=True)
    risk_level = serializers.SerializerMethodField()
    signed = serializers.SerializerMethodField()

    class Meta:
        model = PackageVersion
        fields = [
            "id",
            "package",
            "version",
            "changelog",
            "sha256",
            "size",
            "original_filename",
            "fmi_version",
            "model_name",
            "instantiation_token",
            "generation_tool",
            "generation_date",
            "model_description",
            "kinds",
            "platforms",
            "has_sources",
            "default_experiment",
            "model_description_sha256",
            "risk_score",
            "risk_level",
            "validation_status",
            "certified",
            "certified_at",
            "signed",
            "yanked_at",
            "yank_reason",
            "deprecated_at",
            "deprecation_reason",
            "download_count",
            "created_at",
        ]

    def get_risk_level(self, version: PackageVersion) -> str | None:
        return (version.scan_report or {}).get("risk_level")

    def get_signed(self, version: PackageVersion) -> bool:
        return any(signature.key.revoked_at is None for signature in version.signatures.all())


class VersionDetailSerializer(VersionSerializer):
    inspection = serializers.JSONField(read_only=True)

    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "inspection"]


class VersionUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)  # inspection explains empty files
    version = serializers.CharField(max_length=64)
    changelog = serializers.CharField(required=False, allow_blank=True, default="")
    reference_csv = serializers.FileField(required=False)
    inputs_csv = serializers.FileField(required=False)
    start_values = serializers.JSONField(required=False)
    rtol = serializers.FloatField(required=False, min_value=0, max_value=1)
    atol = serializers.FloatField(required=False, min_value=0)
    columns = serializers.ListField(child=serializers.CharField(), required=False)

    def validate_start_values(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Give start values as an object.", code="invalid")
        return value


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class TestVectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = TestVector
        fields = ["name", "start_values", "fmi_type", "columns", "rtol", "atol", "created_at"]


class PublisherKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = PublisherKey
        fields = [
            "id",
            "name",
            "public_key",
            "fingerprint",
            "created_at",
            "revoked_at",
            "revoked_reason",
        ]
        read_only_fields = ["id", "fingerprint", "created_at", "revoked_at", "revoked_reason"]
        extra_kwargs = {"public_key": {"required": False}}
