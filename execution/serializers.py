"""Representations of jobs and batches, and the request bodies (for the API schema).

Validation of the settings is not here but in ``execution.services.job_settings``, against the
model description; the request serializers describe those shapes, with the bounds that module
enforces (its constants, or the settings it reads). The response serializers are what the views
send, so the schema cannot drift from the answers.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from execution.models import JobStatus, SimulationBatch, SimulationJob
from execution.services.job_settings import (
    FMI_TYPES,
    MAX_ABS_TIME,
    MAX_OUTPUTS,
    MAX_STRING_VALUE,
    MAX_VERSION_ID,
    MIN_RELATIVE_TOLERANCE,
    SOLVERS,
)

#: Any finite double: numbers a client sends for variables (their model's min/max also apply).
FINITE = {
    "type": "number",
    "format": "double",
    "minimum": -sys.float_info.max,
    "maximum": sys.float_info.max,
}
FMI_INTERFACES = sorted(set(FMI_TYPES.values()))
NUMBER_OR_NULL = {"type": "number", "nullable": True, "description": "null for NaN or infinity."}


class JsonValueField(serializers.Field):
    """A JSON value passed through as it is; each subclass documents its exact schema."""

    def to_representation(self, value):
        return value

    def to_internal_value(self, data):
        return data


class PassThroughDictField(serializers.DictField):
    """A map documented by its ``child`` but sent as stored (result columns can hold millions
    of samples: no per-value conversion)."""

    def to_representation(self, value):
        return value


class PassThroughListField(serializers.ListField):
    def to_representation(self, data):
        return data


@extend_schema_field(
    {
        "oneOf": [
            {**FINITE, "description": "Reals; integers are whole and fit their type."},
            {"type": "boolean"},
            {"type": "string", "maxLength": MAX_STRING_VALUE},
            {"type": "array", "items": {"$ref": "#/components/schemas/StartValue"}},
        ],
        "description": "A value of the variable's type (a list for FMI 3 array variables).",
    },
    component_name="StartValue",
)
class StartValueField(JsonValueField):
    pass


def start_values_field(**kwargs) -> PassThroughDictField:
    return PassThroughDictField(child=StartValueField(), **kwargs)


@extend_schema_field(
    {
        "oneOf": [
            NUMBER_OR_NULL,
            {"type": "boolean"},
            {"type": "array", "items": {"$ref": "#/components/schemas/ResultValue"}},
        ],
        "description": "A sample: a number, a boolean, or a list for FMI 3 array variables.",
    },
    component_name="ResultValue",
)
class ResultValueField(JsonValueField):
    pass


@extend_schema_field(
    {
        "oneOf": [NUMBER_OR_NULL, {"type": "array", "items": NUMBER_OR_NULL}],
        "description": "The last value (flattened for array variables).",
    }
)
class FinalValueField(JsonValueField):
    pass


@extend_schema_field(
    {
        "oneOf": [
            {"type": "number"},
            {"type": "string"},
            {"type": "boolean"},
            {
                "type": "array",
                "items": {
                    "oneOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}],
                    "nullable": True,
                },
            },
        ],
        "nullable": True,
        "description": "Run number, status, error code, a swept value or a statistic; null "
        "when there is none.",
    },
    component_name="SummaryCell",
)
class SummaryCellField(JsonValueField):
    pass


def input_columns_field(**kwargs) -> PassThroughDictField:
    """Input time series as columns: ``time`` and one per input, of equal lengths."""
    sample = serializers.FloatField(min_value=-sys.float_info.max, max_value=sys.float_info.max)
    return PassThroughDictField(child=PassThroughListField(child=sample, min_length=1), **kwargs)


@extend_schema_field({"type": "string", "format": "uri"})
class AbsoluteUrlField(serializers.Field):
    """The absolute URL of a named route, from the object's primary key."""

    def __init__(self, view_name: str, query: str = "", **kwargs) -> None:
        self.view_name, self.query = view_name, query
        kwargs.update(source="pk", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, pk) -> str:
        if self.query:
            path = reverse(self.view_name) + f"?{self.query}={pk}"
        else:
            path = reverse(self.view_name, kwargs={"pk": pk})
        return self.context["request"].build_absolute_uri(path)


class BlankAsNullCharField(serializers.CharField):
    """Stored as "" when unset; sent as null."""

    def __init__(self, **kwargs) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    # None for blank: what this field is for, where CharField always answers a string.
    def to_representation(self, value) -> str | None:  # type: ignore[override]
        return value or None


def setting(name: str):
    """A bound that is a setting, read when used (validators and the schema accept callables)."""
    return lambda: getattr(settings, name)


# --- requests -----------------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "number",
        "format": "double",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": MAX_ABS_TIME,
    }
)
class PositiveSecondsField(serializers.FloatField):
    pass


@extend_schema_field(
    {
        "type": "number",
        "format": "double",
        "minimum": MIN_RELATIVE_TOLERANCE,
        "maximum": 1,
        "exclusiveMaximum": True,
    }
)
class RelativeToleranceField(serializers.FloatField):
    pass


class JobCreateSerializer(serializers.Serializer):
    """A model version and its simulation settings; every setting is optional (defaults come
    from the model's default experiment). Each problem is a 400 ``invalid_settings`` with a
    code per field (per variable for start values and inputs)."""

    package = serializers.CharField(required=False, help_text="Package slug (with version).")
    version = serializers.CharField(required=False, help_text="Version number, e.g. 1.0.0.")
    version_id = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_VERSION_ID, help_text="Or the version's id."
    )
    start_time = serializers.FloatField(
        required=False, min_value=-MAX_ABS_TIME, max_value=MAX_ABS_TIME, help_text="Seconds."
    )
    stop_time = serializers.FloatField(
        required=False,
        min_value=-MAX_ABS_TIME,
        max_value=MAX_ABS_TIME,
        help_text="Seconds; after start_time.",
    )
    output_interval = PositiveSecondsField(
        required=False,
        help_text="Seconds between output points: (stop - start) / interval is at most "
        "JOB_MAX_OUTPUT_POINTS.",
    )
    step_size = PositiveSecondsField(required=False, help_text="Seconds (communication step).")
    fmi_type = serializers.ChoiceField(
        choices=list(FMI_TYPES),
        required=False,
        help_text="ME or CS; default: co-simulation when the FMU offers it.",
    )
    solver = serializers.ChoiceField(
        choices=list(SOLVERS), required=False, help_text="Model Exchange runs only."
    )
    relative_tolerance = RelativeToleranceField(required=False)
    start_values = start_values_field(
        required=False, help_text="Variable name -> value (parameters, inputs, states)."
    )
    inputs = input_columns_field(
        required=False,
        help_text="Columns {'time': [...], '<input>': [...]}: time not decreasing, at most "
        "JOB_MAX_INPUT_ROWS rows.",
    )
    outputs = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        max_length=MAX_OUTPUTS,
        help_text="Variables to record (default: the model's outputs).",
    )
    timeout_seconds = serializers.IntegerField(
        required=False,
        min_value=1,
        validators=[MaxValueValidator(setting("JOB_MAX_TIMEOUT_SECONDS"))],
        help_text="Wall-clock limit of the run; your plan's max_job_timeout_seconds may be lower. "
        "Default: JOB_DEFAULT_TIMEOUT_SECONDS, or 1.5 times the validation's smoke run of the "
        "default experiment when that is longer (within your plan's limit).",
    )


class JobCreateFormSerializer(JobCreateSerializer):
    """The same as form fields (multipart to upload ``inputs_csv``): maps and lists as JSON
    text."""

    # Text fields in place of the JSON ones (DRF's metaclass replaces declared fields).
    start_values = serializers.CharField(  # type: ignore[assignment]
        required=False, help_text="A JSON object, as above."
    )
    inputs = serializers.CharField(  # type: ignore[assignment]
        required=False, help_text="A JSON object, as above."
    )
    inputs_csv = serializers.FileField(
        required=False, help_text="Or the inputs as CSV (header row, time first), at most 10 MB."
    )
    outputs = serializers.CharField(  # type: ignore[assignment]
        required=False, help_text="A JSON list, or names separated by commas."
    )


def _runs_field() -> serializers.ListField:
    return serializers.ListField(
        child=start_values_field(),
        required=False,
        min_length=1,
        validators=[MaxLengthValidator(setting("SWEEP_MAX_RUNS"))],
        help_text="A list of start-value objects, one per run.",
    )


class BatchCreateSerializer(JobCreateSerializer):
    """The settings shared by every run, plus ``grid`` or ``runs`` (one of them): at most
    SWEEP_MAX_RUNS runs, or your plan's max_sweep_size."""

    grid = serializers.DictField(
        child=serializers.ListField(child=StartValueField(), min_length=1),
        required=False,
        help_text="Name -> values: a run for every combination.",
    )
    runs = _runs_field()


class BatchCreateFormSerializer(JobCreateFormSerializer):
    grid = serializers.CharField(required=False, help_text="A JSON object, as above.")
    runs = serializers.CharField(required=False, help_text="A JSON list, as above.")


MIN_DISPLAY_POINTS = 100
MAX_DISPLAY_POINTS = 100_000


class JobListQuerySerializer(serializers.Serializer):
    """Filters of ``GET /jobs``."""

    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    package = serializers.CharField(required=False, help_text="Package slug.")
    version_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_VERSION_ID)
    batch = serializers.UUIDField(
        required=False,
        help_text="The runs of this batch, by run number (default: jobs run on their own).",
    )


class JobResultsQuerySerializer(serializers.Serializer):
    """Options of ``GET /jobs/{id}/results``."""

    columns = serializers.CharField(required=False, help_text="Comma-separated subset.")
    max_points = serializers.IntegerField(
        required=False,
        min_value=MIN_DISPLAY_POINTS,
        max_value=MAX_DISPLAY_POINTS,
        help_text="For display only: at most about this many rows, the minimum and maximum of "
        "each returned column in each of equal buckets of rows (peaks survive), with the first "
        "and last row; every row when the result has no more. Downloads are never decimated.",
    )


# --- responses ----------------------------------------------------------------------------


class SimulationSettingsSerializer(serializers.Serializer):
    """The effective settings of a run (defaults resolved): with the FMU's SHA-256 and the fmpy
    version, enough to repeat it exactly."""

    fmi_type = serializers.ChoiceField(choices=FMI_INTERFACES)
    start_time = serializers.FloatField()
    stop_time = serializers.FloatField()
    output_interval = serializers.FloatField(allow_null=True)
    step_size = serializers.FloatField(allow_null=True)
    solver = serializers.ChoiceField(choices=list(SOLVERS))
    relative_tolerance = serializers.FloatField(allow_null=True)
    start_values = start_values_field()
    outputs = serializers.ListField(child=serializers.CharField(), allow_null=True)
    timeout_seconds = serializers.IntegerField()


class JobUsageSerializer(serializers.Serializer):
    """Measured resources (null until the run has ended)."""

    cpu_s = serializers.FloatField(allow_null=True)
    peak_rss_mb = serializers.FloatField(allow_null=True)
    wall_s = serializers.FloatField(allow_null=True)
    output_bytes = serializers.IntegerField(allow_null=True)


class ResultSummarySerializer(serializers.Serializer):
    rows = serializers.IntegerField(source="result_rows")
    columns = serializers.ListField(child=serializers.CharField(), source="result_columns")
    sha256 = serializers.CharField(source="result_sha256")


class JobLinksSerializer(serializers.Serializer):
    results = AbsoluteUrlField("api-job-results")
    results_csv = AbsoluteUrlField("api-job-results-csv")
    results_mat = AbsoluteUrlField("api-job-results-mat")
    plot = AbsoluteUrlField("api-job-plot")


@extend_schema_field(SimulationSettingsSerializer)
class StoredSettingsField(JsonValueField):
    """The effective settings as the job stored them (validated when it was submitted)."""


@extend_schema_field(JobUsageSerializer)
class UsageField(JsonValueField):
    pass


class _LinksField(serializers.Field):
    """Links to an object's related routes, only when ``ready``: otherwise the key is left out
    (computed for the objects that have them only: lists are long)."""

    links_serializer: type[serializers.Serializer]

    def __init__(self, **kwargs) -> None:
        super().__init__(source="*", required=False, **kwargs)

    def ready(self, instance) -> bool:
        raise NotImplementedError

    def to_representation(self, instance) -> dict | None:
        if not self.ready(instance):
            return None
        return self.links_serializer(instance, context=self.context).data


@extend_schema_field(JobLinksSerializer)
class JobLinksField(_LinksField):
    links_serializer = JobLinksSerializer

    def ready(self, job: SimulationJob) -> bool:
        return job.status == JobStatus.SUCCEEDED


def _without_absent_links(data: dict) -> dict:
    if data.get("links") is None:
        data.pop("links", None)
    return data


class ColumnStatsSerializer(serializers.Serializer):
    final = FinalValueField()
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)


class SimulationJobSerializer(serializers.Serializer):
    """A simulation job; ``links`` once it has succeeded."""

    id = serializers.UUIDField(read_only=True)
    url = AbsoluteUrlField("api-job-detail")
    status = serializers.ChoiceField(choices=JobStatus.choices, read_only=True)
    package = serializers.CharField(source="version.package.slug", read_only=True)
    version = serializers.CharField(source="version.version", read_only=True)
    version_id = serializers.IntegerField(read_only=True)
    sha256 = serializers.CharField(read_only=True, help_text="SHA-256 of the FMU file.")
    batch = serializers.UUIDField(source="batch_id", read_only=True, allow_null=True)
    batch_index = serializers.IntegerField(read_only=True, allow_null=True)
    rerun_of = serializers.UUIDField(source="rerun_of_id", read_only=True, allow_null=True)
    settings = StoredSettingsField(read_only=True)
    error_code = BlankAsNullCharField()
    error_message = BlankAsNullCharField()
    usage = UsageField(read_only=True)
    cost_credits = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="null until the run is settled."
    )
    fmpy_version = serializers.CharField(read_only=True)
    attempts = serializers.IntegerField(read_only=True)
    result = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    links = JobLinksField()

    @extend_schema_field(ResultSummarySerializer(allow_null=True))
    def get_result(self, job: SimulationJob) -> dict | None:
        return ResultSummarySerializer(job).data if job.result_npy_key else None

    def to_representation(self, job: SimulationJob) -> dict:
        return _without_absent_links(super().to_representation(job))


class SimulationJobDetailSerializer(SimulationJobSerializer):
    inputs = input_columns_field(
        read_only=True, allow_null=True, help_text="The input series the run was given."
    )
    log = serializers.CharField(read_only=True, help_text="The FMU's log.")
    result_stats = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DictField(child=ColumnStatsSerializer(), allow_null=True))
    def get_result_stats(self, job: SimulationJob) -> dict | None:
        """Final, min and max of each recorded variable."""
        return job.result_stats or None


class JobResultsSerializer(serializers.Serializer):
    job = serializers.UUIDField()
    rows = serializers.IntegerField(help_text="Rows in the result.")
    columns = PassThroughDictField(
        child=PassThroughListField(child=ResultValueField()),
        help_text="Variable name -> samples, time first.",
    )
    units = serializers.DictField(
        child=serializers.CharField(allow_blank=True), help_text='Variable name -> unit (or "").'
    )
    points = serializers.IntegerField(help_text="Rows in ``columns`` (``rows`` unless decimated).")
    decimated = serializers.BooleanField(
        help_text="True when ``max_points`` left rows out (min/max per bucket, for display)."
    )
    csv_url = serializers.URLField(help_text="A signed link to the CSV, for you only.")
    csv_expires_at = serializers.DateTimeField()


class BatchSummarySerializer(serializers.Serializer):
    """Per run: its number, status, error code, swept values, then final/min/max per output."""

    columns = serializers.ListField(child=serializers.CharField())
    rows = PassThroughListField(child=PassThroughListField(child=SummaryCellField()))


class BatchLinksSerializer(serializers.Serializer):
    summary_csv = AbsoluteUrlField("api-batch-summary-csv")
    plot = AbsoluteUrlField("api-batch-plot")


@extend_schema_field(BatchLinksSerializer)
class BatchLinksField(_LinksField):
    links_serializer = BatchLinksSerializer

    def ready(self, batch: SimulationBatch) -> bool:
        return bool(batch.summary_csv_key)


class SimulationBatchSerializer(serializers.Serializer):
    """A parameter sweep; ``links`` once it has finished."""

    id = serializers.UUIDField(read_only=True)
    url = AbsoluteUrlField("api-batch-detail")
    status = serializers.ChoiceField(choices=JobStatus.choices, read_only=True)
    package = serializers.CharField(source="version.package.slug", read_only=True)
    version = serializers.CharField(source="version.version", read_only=True)
    version_id = serializers.IntegerField(read_only=True)
    sha256 = serializers.CharField(read_only=True)
    settings = StoredSettingsField(read_only=True, help_text="Shared by every run.")
    parameters = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="The swept variables."
    )
    runs_total = serializers.IntegerField(read_only=True)
    runs_succeeded = serializers.IntegerField(read_only=True)
    runs_failed = serializers.IntegerField(read_only=True)
    progress = serializers.FloatField(read_only=True, help_text="Finished runs / runs (0..1).")
    error_code = BlankAsNullCharField()
    error_message = BlankAsNullCharField()
    cost_credits = serializers.IntegerField(read_only=True, allow_null=True)
    fmpy_version = serializers.CharField(read_only=True)
    runs = AbsoluteUrlField("api-job-list", query="batch", help_text="The runs, as a job list.")
    created_at = serializers.DateTimeField(read_only=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    links = BatchLinksField()

    def to_representation(self, batch: SimulationBatch) -> dict:
        return _without_absent_links(super().to_representation(batch))


class SimulationBatchDetailSerializer(SimulationBatchSerializer):
    """Once finished, also the summary inline and a signed link to its CSV (the view reads
    them from the results storage and sets them on the batch)."""

    summary = BatchSummarySerializer(required=False)
    summary_csv_url = serializers.URLField(required=False)
    summary_csv_expires_at = serializers.DateTimeField(required=False)
