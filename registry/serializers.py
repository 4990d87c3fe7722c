from __future__ import annotations

import math
import sys

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.models import (
    Package,
    PackageVersion,
    PublisherKey,
    ValidationRun,
    Variable,
    VersionSignature,
)


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string"},
        "description": "Up to 20 distinct tags; each is trimmed, lower-cased and cut to 50 "
        "characters.",
    }
)
class TagsField(serializers.JSONField):
    """A list of strings (checked by ``PackageSerializer.validate_tags``)."""


FINITE_NUMBER = {"type": "number", "minimum": -sys.float_info.max, "maximum": sys.float_info.max}


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"oneOf": [FINITE_NUMBER, {"type": "boolean"}, {"type": "string"}]},
        "description": "Variable name → start value (a finite number, a boolean or a string).",
    }
)
class StartValuesField(serializers.JSONField):
    """Start values by variable name: numbers, booleans or strings."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Give start values as an object.", code="invalid")
        for name, start in value.items():
            if isinstance(start, float) and not math.isfinite(start):
                raise serializers.ValidationError(
                    f"The start value of {name} must be finite.", code="invalid"
                )
            if not isinstance(start, int | float | bool | str):
                raise serializers.ValidationError(
                    f"The start value of {name} must be a number, a boolean or a string.",
                    code="invalid",
                )
        return value


class PackageOwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="owner_id", read_only=True)
    name = serializers.CharField(source="owner.get_full_name", read_only=True)


class PackageSerializer(serializers.ModelSerializer):
    owner = PackageOwnerSerializer(source="*", read_only=True)
    tags = TagsField(required=False)
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

    def get_latest_version(self, package: Package) -> str | None:
        # Lists annotate ``latest_version_number`` (one query for the page); a single package
        # (detail, edit, submit) is not annotated, so look its newest version up here.
        if hasattr(package, "latest_version_number"):
            return package.latest_version_number
        return package.versions.order_by("-created_at").values_list("version", flat=True).first()

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


class SimulationUsageSerializer(serializers.Serializer):
    cpu_s = serializers.FloatField(help_text="CPU seconds.")
    peak_rss_mb = serializers.FloatField(help_text="Peak resident memory, MB.")
    wall_s = serializers.FloatField(help_text="Wall-clock seconds.")
    output_bytes = serializers.IntegerField()


class SimulationSummarySerializer(serializers.Serializer):
    """How one sandboxed simulation of the validation went."""

    status = serializers.CharField(
        help_text="`succeeded`, `failed`, `timed_out`, `cancelled`, or `skipped` (not run: the "
        "runner cannot execute the FMU's interface, code `unsupported_interface`)."
    )
    code = serializers.CharField(allow_null=True, help_text="Why it failed (stable code).")
    message = serializers.CharField(allow_null=True, allow_blank=True)
    usage = SimulationUsageSerializer()
    rows = serializers.IntegerField(help_text="Rows of the result.")


class ModelDescriptionCheckSerializer(serializers.Serializer):
    problems = serializers.ListField(
        child=serializers.CharField(),
        help_text="Errors: what stops fmpy from loading the model. Any fails validation.",
    )
    warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="What only fmpy's stricter checks find (model structure, variable names); "
        "fmpy runs through it. Warnings do not fail validation.",
    )
    passed = serializers.BooleanField()


class ValidationWarningSerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=["model_description", "binary_name_mismatch"],
        help_text="`model_description`: a finding fmpy runs through; `binary_name_mismatch`: "
        "the library is not named after the modelIdentifier and was loaded as the only one.",
    )
    detail = serializers.CharField()


class ColumnComparisonSerializer(serializers.Serializer):
    name = serializers.CharField()
    max_abs_error = serializers.FloatField(allow_null=True, help_text="null: not finite.")
    max_rel_error = serializers.FloatField(allow_null=True, help_text="null: not finite.")
    failed_points = serializers.IntegerField()
    worst_time = serializers.FloatField(allow_null=True)
    passed = serializers.BooleanField()


class ComparisonSerializer(serializers.Serializer):
    rtol = serializers.FloatField()
    atol = serializers.FloatField()
    n_points = serializers.IntegerField()
    columns = ColumnComparisonSerializer(many=True)
    missing_columns = serializers.ListField(child=serializers.CharField())
    uncovered_points = serializers.IntegerField()
    messages = serializers.ListField(child=serializers.CharField())
    passed = serializers.BooleanField()


class TestVectorOutcomeSerializer(serializers.Serializer):
    name = serializers.CharField()
    rtol = serializers.FloatField()
    atol = serializers.FloatField()
    simulation = SimulationSummarySerializer()
    passed = serializers.BooleanField()
    error = serializers.CharField(required=False, help_text="When the simulation failed.")
    comparison = ComparisonSerializer(required=False, help_text="When the simulation ran.")


class ValidationReportSerializer(serializers.Serializer):
    """A validation run's report; keys appear as the run gets to them (empty while queued)."""

    validator_version = serializers.CharField(required=False)
    fmpy_version = serializers.CharField(required=False)
    fmu_sha256 = serializers.CharField(required=False)
    model_description = ModelDescriptionCheckSerializer(required=False)
    smoke = SimulationSummarySerializer(
        required=False, help_text="The default experiment, simulated."
    )
    test_vectors = TestVectorOutcomeSerializer(many=True, required=False)
    passed = serializers.BooleanField(required=False)
    certified = serializers.BooleanField(required=False)
    reasons = serializers.ListField(child=serializers.CharField(), required=False)
    certification_reasons = serializers.ListField(child=serializers.CharField(), required=False)
    warnings = ValidationWarningSerializer(
        many=True,
        required=False,
        help_text="Findings that do not fail validation (a passed run with warnings is "
        "'validated with warnings') nor stop certification.",
    )


class ValidationRunSerializer(serializers.ModelSerializer):
    report = ValidationReportSerializer(read_only=True)

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


class DefaultExperimentSerializer(serializers.Serializer):
    """The model description's default experiment (empty when it declares none)."""

    start_time = serializers.FloatField(allow_null=True, required=False)
    stop_time = serializers.FloatField(allow_null=True, required=False)
    tolerance = serializers.FloatField(allow_null=True, required=False)
    step_size = serializers.FloatField(allow_null=True, required=False)


RISK_LEVELS = ["none", "low", "medium", "high", "critical"]


class VersionSerializer(serializers.ModelSerializer):
    package: serializers.SlugRelatedField[Package] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=["CS", "ME", "SE"]),
        read_only=True,
        help_text="Co-simulation, model exchange, scheduled execution.",
    )
    platforms = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Platforms with binaries, FMI 3 style (`x86_64-linux`, ...).",
    )
    default_experiment = DefaultExperimentSerializer(read_only=True)
    validation_warnings = ValidationWarningSerializer(
        many=True,
        read_only=True,
        help_text="Warnings of the latest validation; `validation_status` `passed` with "
        "warnings means 'validated with warnings'.",
    )
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
            "validation_warnings",
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

    @extend_schema_field(
        serializers.ChoiceField(choices=RISK_LEVELS, allow_null=True, read_only=True)
    )
    def get_risk_level(self, version: PackageVersion) -> str | None:
        return (version.scan_report or {}).get("risk_level")

    def get_signed(self, version: PackageVersion) -> bool:
        return any(signature.key.revoked_at is None for signature in version.signatures.all())


class InterfaceSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="ModelExchange, CoSimulation or ScheduledExecution.")
    model_identifier = serializers.CharField()
    runnable = serializers.BooleanField(help_text="Has an x86_64-linux binary.")
    needs_execution_tool = serializers.BooleanField()
    can_get_and_set_fmu_state = serializers.BooleanField()
    can_handle_variable_step_size = serializers.BooleanField(
        allow_null=True, help_text="Co-simulation only."
    )
    library = serializers.CharField(
        allow_null=True,
        required=False,
        help_text="The x86_64-linux library loaded for this interface.",
    )
    library_renamed = serializers.BooleanField(
        required=False,
        help_text="The library is not named after the modelIdentifier; it is the only one "
        "of its folder and the gateway loads it under the expected name.",
    )
    supported = serializers.BooleanField(
        required=False,
        help_text="The gateway's runner can execute this interface (Model Exchange and "
        "Co-Simulation; not Scheduled Execution).",
    )


class PlatformSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="FMI 3 style, e.g. `x86_64-linux`.")
    folder = serializers.CharField(help_text="The folder under `binaries/`, e.g. `linux64`.")
    arch = serializers.CharField()
    os = serializers.CharField()
    files = serializers.ListField(child=serializers.CharField())
    libraries = serializers.ListField(child=serializers.CharField())
    model_identifiers = serializers.ListField(child=serializers.CharField())
    runnable = serializers.BooleanField()


class BinarySerializer(serializers.Serializer):
    path = serializers.CharField()
    platform = serializers.CharField()
    size = serializers.IntegerField()
    format = serializers.CharField(help_text="`elf`, `pe`, `macho` or `unknown`.")
    elf_class = serializers.IntegerField(allow_null=True, help_text="32 or 64.")
    machine = serializers.CharField(allow_null=True, help_text="e.g. `EM_X86_64`.")
    elf_type = serializers.CharField(allow_null=True, help_text="e.g. `ET_DYN`.")


class InspectedVariableSerializer(serializers.Serializer):
    name = serializers.CharField()
    value_reference = serializers.IntegerField(allow_null=True)
    causality = serializers.CharField(allow_null=True)
    variability = serializers.CharField(allow_null=True)
    type = serializers.CharField(allow_null=True)
    unit = serializers.CharField(allow_null=True)
    start = serializers.CharField(allow_null=True)
    min = serializers.CharField(allow_null=True)
    max = serializers.CharField(allow_null=True)
    nominal = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    initial = serializers.CharField(allow_null=True)
    declared_type = serializers.CharField(allow_null=True)
    shape = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, help_text="FMI 3 arrays."
    )


class InspectionSerializer(serializers.Serializer):
    """What the upload's inspection learnt from the archive (the facts behind the model card)."""

    sha256 = serializers.CharField(required=False)
    size = serializers.IntegerField(required=False)
    fmi_version = serializers.CharField(required=False)
    model_name = serializers.CharField(required=False)
    instantiation_token = serializers.CharField(allow_null=True, required=False)
    generation_tool = serializers.CharField(allow_null=True, required=False)
    generation_date = serializers.CharField(allow_null=True, required=False)
    description = serializers.CharField(allow_null=True, required=False)
    author = serializers.CharField(allow_null=True, required=False)
    version = serializers.CharField(allow_null=True, required=False)
    copyright = serializers.CharField(allow_null=True, required=False)
    license = serializers.CharField(allow_null=True, required=False)
    variable_naming_convention = serializers.CharField(allow_null=True, required=False)
    interfaces = InterfaceSerializer(many=True, required=False)
    platforms = PlatformSerializer(many=True, required=False)
    binaries = BinarySerializer(many=True, required=False)
    has_sources = serializers.BooleanField(required=False)
    has_documentation = serializers.BooleanField(required=False)
    default_experiment = DefaultExperimentSerializer(allow_null=True, required=False)
    variables = InspectedVariableSerializer(
        many=True,
        required=False,
        help_text="Only in cards of versions uploaded before the variables moved to their own "
        "endpoint (`.../variables`).",
    )
    model_description_sha256 = serializers.CharField(required=False)
    model_description_size = serializers.IntegerField(required=False)
    number_of_continuous_states = serializers.IntegerField(required=False)
    number_of_event_indicators = serializers.IntegerField(required=False)
    total_uncompressed_size = serializers.IntegerField(required=False)
    number_of_entries = serializers.IntegerField(required=False)
    warnings = serializers.ListField(child=serializers.CharField(), required=False)
    runnable = serializers.BooleanField(required=False)
    number_of_variables = serializers.IntegerField(required=False)


class VersionDetailSerializer(VersionSerializer):
    inspection = InspectionSerializer(read_only=True)

    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "inspection"]


class VersionUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)  # inspection explains empty files
    version = serializers.CharField(max_length=64)
    changelog = serializers.CharField(required=False, allow_blank=True, default="")
    reference_csv = serializers.FileField(required=False)
    inputs_csv = serializers.FileField(required=False)
    start_values = StartValuesField(required=False)
    rtol = serializers.FloatField(required=False, min_value=0, max_value=1)
    # In the outputs' own units; past any output's magnitude every point passes anyway.
    atol = serializers.FloatField(required=False, min_value=0, max_value=1e12)
    columns = serializers.ListField(child=serializers.CharField(), required=False)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


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


class PublisherKeyCreatedSerializer(PublisherKeySerializer):
    """A new publisher key; ``private_key`` only when the server generated the pair."""

    private_key = serializers.CharField(
        required=False,
        help_text="PEM of a generated key's private half, shown this once.",
    )

    class Meta(PublisherKeySerializer.Meta):
        fields = [*PublisherKeySerializer.Meta.fields, "private_key"]


# --- Scan report ------------------------------------------------------------------------------


class FindingLocationSerializer(serializers.Serializer):
    path = serializers.CharField(allow_null=True, help_text="Entry path inside the archive.")
    symbol = serializers.CharField(allow_null=True, help_text="Symbol, library or version.")


class FindingSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=["critical", "high", "medium", "low", "info"])
    code = serializers.CharField()
    title = serializers.CharField()
    location = FindingLocationSerializer(allow_null=True)
    recommendation = serializers.CharField()
    detail = serializers.CharField(allow_null=True)


class ScanRuntimeSerializer(serializers.Serializer):
    platform = serializers.CharField()
    glibc_version = serializers.CharField(allow_null=True)


class FindingCountsSerializer(serializers.Serializer):
    critical = serializers.IntegerField()
    high = serializers.IntegerField()
    medium = serializers.IntegerField()
    low = serializers.IntegerField()
    info = serializers.IntegerField()


class ScanReportSerializer(serializers.Serializer):
    """The upload's security scan; only ``risk_score`` until the version has been scanned."""

    risk_score = serializers.IntegerField(allow_null=True, help_text="0–100.")
    risk_level = serializers.ChoiceField(choices=RISK_LEVELS, required=False)
    findings = FindingSerializer(many=True, required=False)
    counts = FindingCountsSerializer(required=False, help_text="Findings per severity.")
    runtime = ScanRuntimeSerializer(required=False, help_text="What binaries were checked against.")
    scanned_binaries = serializers.ListField(child=serializers.CharField(), required=False)
    duration_ms = serializers.FloatField(required=False)


# --- Signed documents: attestations, platform keys --------------------------------------------


class SignedDocumentSerializer(serializers.Serializer):
    """A document signed with the platform's Ed25519 key: the signature covers the canonical JSON
    of ``payload`` (sorted keys, no spaces, UTF-8). Subclasses type the payload."""

    alg = serializers.ChoiceField(choices=["Ed25519"])
    kid = serializers.CharField(help_text="The signing key's id (see /api/v1/platform-keys).")
    signature = serializers.CharField(help_text="URL-safe base64, unpadded.")


class AttestedTestVectorSerializer(serializers.Serializer):
    name = serializers.CharField()
    passed = serializers.BooleanField()


class AttestedResultsSerializer(serializers.Serializer):
    model_description_problems = serializers.IntegerField()
    warnings = serializers.IntegerField(
        required=False, help_text="Validation warnings (they do not stop certification)."
    )
    smoke = serializers.CharField(allow_null=True, help_text="The smoke run's status.")
    test_vectors = AttestedTestVectorSerializer(many=True)
    risk_score = serializers.IntegerField(allow_null=True)


class AttestationPayloadSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["fmugateway.attestation/v1"])
    issuer = serializers.CharField(help_text="The platform's URL.")
    package = serializers.CharField()
    version = serializers.CharField()
    fmu_sha256 = serializers.CharField()
    model_description_sha256 = serializers.CharField()
    fmi_version = serializers.CharField()
    validator_version = serializers.CharField(allow_null=True)
    fmpy_version = serializers.CharField(allow_null=True)
    results = AttestedResultsSerializer()
    validation_run = serializers.IntegerField()
    issued_at = serializers.DateTimeField()


class AttestationSerializer(SignedDocumentSerializer):
    """A certified version's attestation, verifiable offline."""

    payload = AttestationPayloadSerializer()


class AttestationVerifySerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The .fmu file.")
    attestation = serializers.FileField(help_text="The attestation JSON.")


class AttestationVerifiedSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="Always true: a refused attestation is a 400.")
    payload = AttestationPayloadSerializer()


class PlatformKeySerializer(serializers.Serializer):
    kid = serializers.CharField()
    alg = serializers.ChoiceField(choices=["Ed25519"])
    kty = serializers.ChoiceField(choices=["OKP"])
    crv = serializers.ChoiceField(choices=["Ed25519"])
    x = serializers.CharField(help_text="The raw public key, URL-safe base64 (JWK).")
    pem = serializers.CharField()
    current = serializers.BooleanField(help_text="The key signing now; the others are retired.")


class PlatformKeysSerializer(serializers.Serializer):
    keys = PlatformKeySerializer(many=True)


# --- Downloads and publisher signatures -------------------------------------------------------


class DownloadLinkSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Only for you; GET it with your credentials.")
    expires_at = serializers.DateTimeField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes.")


class ManifestSerializer(serializers.Serializer):
    """What a publisher signs: the canonical JSON of these four strings."""

    package = serializers.CharField()
    version = serializers.CharField()
    fmu_sha256 = serializers.CharField()
    model_description_sha256 = serializers.CharField()


class VersionSignatureSerializer(serializers.ModelSerializer):
    key_id = serializers.IntegerField(read_only=True)
    key_name = serializers.CharField(source="key.name", read_only=True)
    fingerprint = serializers.CharField(source="key.fingerprint", read_only=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = VersionSignature
        fields = ["key_id", "key_name", "fingerprint", "signature", "status", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["valid", "revoked"]))
    def get_status(self, signature: VersionSignature) -> str:
        return "revoked" if signature.key.revoked_at else "valid"


class VersionSignaturesSerializer(serializers.Serializer):
    manifest = ManifestSerializer()
    signatures = VersionSignatureSerializer(many=True)


class SignatureInputSerializer(serializers.Serializer):
    key_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    signature = serializers.CharField(max_length=200)


class PackageListQuerySerializer(serializers.Serializer):
    mine = serializers.BooleanField(required=False, help_text="Only your packages.")
    status = serializers.ChoiceField(choices=Package.Status.choices, required=False)


class VariableQuerySerializer(serializers.Serializer):
    causality = serializers.CharField(
        required=False, max_length=40, help_text="e.g. `input`, `output`, `parameter`."
    )
    variability = serializers.CharField(
        required=False, max_length=40, help_text="e.g. `continuous`, `fixed`."
    )
    type = serializers.CharField(
        required=False, max_length=40, help_text="e.g. `Real`, `Float64`, `Boolean`."
    )
    q = serializers.CharField(required=False, max_length=200, help_text="Part of the name.")
