"""Job history that helps: filters for the job list, "re-run with edits" links into the package
page's run form, and the settings diff of two runs for the compare page."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.db.models import QuerySet

from execution.forms import configuration_url
from execution.models import JobStatus, SimulationJob

# --- filters -----------------------------------------------------------------------------------


class JobHistoryFilter(forms.Form):
    """GET filters of the job list; every field optional, an invalid one is shown, not guessed."""

    model = forms.ChoiceField(required=False, label="Model")
    status = forms.ChoiceField(
        required=False, label="Status", choices=[("", "Any status"), *JobStatus.choices]
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, models: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model = cast(forms.ChoiceField, self.fields["model"])
        model.choices = [("", "Any model"), *models]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned

    def apply(self, jobs: QuerySet[SimulationJob]) -> QuerySet[SimulationJob]:
        """The jobs that pass the filters given validly (an invalid one is left out and shown
        with its error); dates are whole days in the site's time zone."""
        self.is_valid()
        wanted = self.cleaned_data
        if wanted.get("model"):
            jobs = jobs.filter(version__package__slug=wanted["model"])
        if wanted.get("status"):
            jobs = jobs.filter(status=wanted["status"])
        if wanted.get("date_from"):
            jobs = jobs.filter(created_at__date__gte=wanted["date_from"])
        if wanted.get("date_to"):
            jobs = jobs.filter(created_at__date__lte=wanted["date_to"])
        return jobs


def model_choices(jobs: QuerySet[SimulationJob]) -> list[tuple[str, str]]:
    """(package slug, name) of every model these jobs ran, by name."""
    pairs = (
        jobs.order_by().values_list("version__package__slug", "version__package__name").distinct()
    )
    return sorted(pairs, key=lambda pair: (pair[1].lower(), pair[0]))


# --- re-run with edits -------------------------------------------------------------------------


def rerun_url(job: SimulationJob) -> str:
    """The run form of the job's version, filled with its settings and start values (the
    form's configuration link). Input series and outputs are not carried (they do not fit a
    URL); the form shows its defaults for them."""
    return configuration_url(job.version, job.settings or {})


# --- settings diff -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffRow:
    label: str
    a: str
    b: str

    @property
    def changed(self) -> bool:
        return self.a != self.b


MISSING = "–"
SETTING_LABELS = (
    ("fmi_type", "Interface"),
    ("start_time", "Start time [s]"),
    ("stop_time", "Stop time [s]"),
    ("output_interval", "Output interval [s]"),
    ("step_size", "Step size [s]"),
    ("solver", "Solver"),
    ("relative_tolerance", "Relative tolerance"),
    ("timeout_seconds", "Timeout [s]"),
)


def _shown(value: Any) -> str:
    """A setting as the diff shows it: floats exactly (what ran), so a change never hides."""
    if value is None:
        return MISSING
    if isinstance(value, list):
        return ", ".join(_shown(item) for item in value) or "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # reads back as the same double
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def settings_diff(a: SimulationJob, b: SimulationJob, units: dict[str, str]) -> list[DiffRow]:
    """Model, settings, each start value (either run's, by name) and inputs of two runs.
    A start value one run did not set shows "–" (the model's default)."""
    sa, sb = a.settings or {}, b.settings or {}
    rows = [
        DiffRow(
            "Model",
            f"{a.version.package.name} {a.version.version}",
            f"{b.version.package.name} {b.version.version}",
        ),
        DiffRow("FMU SHA-256", a.sha256, b.sha256),
    ]
    rows += [
        DiffRow(label, _shown(sa.get(key)), _shown(sb.get(key))) for key, label in SETTING_LABELS
    ]
    starts_a, starts_b = sa.get("start_values") or {}, sb.get("start_values") or {}
    for name in sorted({*starts_a, *starts_b}):
        label = f"{name} [{units[name]}]" if units.get(name) else name
        rows.append(DiffRow(label, _shown(starts_a.get(name)), _shown(starts_b.get(name))))
    outputs_a, outputs_b = sa.get("outputs"), sb.get("outputs")
    rows.append(
        DiffRow(
            "Outputs",
            "all" if outputs_a is None else _shown(outputs_a),
            "all" if outputs_b is None else _shown(outputs_b),
        )
    )
    rows.append(DiffRow("Input series", _inputs_text(a), _inputs_text(b)))
    rows.append(DiffRow("fmpy", a.fmpy_version or MISSING, b.fmpy_version or MISSING))
    return rows


def _inputs_text(job: SimulationJob) -> str:
    if not job.inputs:
        return "none"
    names = [name for name in job.inputs if name != "time"]
    samples = len(job.inputs.get("time") or [])
    # Identical series give identical text (a digest of the values tells two series apart).
    digest = hashlib.sha256(json.dumps(job.inputs, sort_keys=True).encode()).hexdigest()[:8]
    return f"{', '.join(names)} ({samples} samples, #{digest})"
