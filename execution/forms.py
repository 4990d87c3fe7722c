"""The package page's run form, built from the version's model description.

One field per variable a run may set (the rule is the API's: ``job_settings.is_settable``),
grouped as parameters, initial values and inputs, plus the run settings the API accepts. The
form never decides what is valid: it turns its fields into the API's settings, the service
validates them, and the service's field errors are put back next to the fields.

Field names are the query format of a shareable configuration: ``run.<setting>`` for the run
settings (``SETTING_KEYS``) and ``run.<variable name>`` for a start value, so
``<package version page>?run.e=0.8&run.stop_time=5#run`` opens the form filled in. A variable
named like a run setting can only be set through the API.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.conf import settings as django_settings
from django.db.models import Q
from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from execution.services.job_settings import (
    INTEGER_RANGES,
    INTEGER_TYPES,
    MAX_STRING_VALUE,
    MIN_RELATIVE_TOLERANCE,
    REAL_TYPES,
    SETTABLE_CAUSALITIES,
    VariableInfo,
    is_settable,
)
from fmugateway.core.errors import DomainError
from registry.models import Package, PackageVersion, Variable

PREFIX = "run."
SETTING_KEYS = (
    "fmi_type",
    "solver",
    "start_time",
    "stop_time",
    "output_interval",
    "relative_tolerance",
)
#: The page shows at most this many variable fields (more stay reachable by URL and API).
MAX_VARIABLE_FIELDS = 500
#: A group with more fields than this starts collapsed, and the filter box appears.
COLLAPSE_OVER = 8
#: An enumeration with at most this many values (from its min/max) is a select.
MAX_ENUM_CHOICES = 100
GROUPS = (("parameters", "Parameters"), ("initial", "Initial values"), ("inputs", "Inputs"))
FMI_TYPE_LABELS = {
    "CoSimulation": ("CS", "Co-Simulation"),
    "ModelExchange": ("ME", "Model Exchange"),
}
#: Types a start value can be given in (not FMI 3 Binary or Clock).
FORM_TYPES = (*REAL_TYPES, *INTEGER_TYPES, "Boolean", "String")
#: The request attribute through which ``job_create`` hands a refused form to the package page.
REQUEST_ATTR = "execution_run_form"


@dataclass
class RunField:
    """One input of the form; ``key`` is its name without the ``run.`` prefix."""

    key: str
    html_id: str
    label: str
    widget: str = "input"  # "input" or "select"
    input_type: str = "number"
    value: str = ""
    placeholder: str = ""
    help: str = ""
    unit: str = ""
    kind: str = ""
    step: str = ""
    min: str = ""
    max: str = ""
    maxlength: int | None = None
    choices: list[tuple[str, str]] = field(default_factory=list)
    default: str = ""  # a value equal to it is left out of share links
    rules: dict[str, str] = field(default_factory=dict)  # data-* checks runform.js applies
    errors: list[str] = field(default_factory=list)
    autofocus: bool = False  # the first refused field: the page opens scrolled to it

    @property
    def name(self) -> str:
        return PREFIX + self.key

    @property
    def search_text(self) -> str:
        return f"{self.key} {self.help}".lower()


@dataclass
class RunGroup:
    key: str
    label: str
    fields: list[RunField]

    @property
    def open(self) -> bool:
        return len(self.fields) <= COLLAPSE_OVER or any(f.value or f.errors for f in self.fields)


def _number_text(value: Any) -> str:
    """A setting or start value as the form and share links write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return "" if value is None else str(value)


def _bound(text: str) -> float | None:
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class RunForm:
    """The run form of ``version``, filled from ``data`` (a POST, or a page's query string)."""

    def __init__(self, version: PackageVersion, data: Mapping[str, Any] | None = None) -> None:
        self.version = version
        self.data: Mapping[str, Any] = data if data is not None else QueryDict()
        self.errors: list[str] = []
        self.status_code = 200
        self.setting_fields = self._setting_fields()
        self.groups, self.truncated, self.ignored = self._variable_groups()
        self.by_key = {f.key: f for f in self.fields}

    # --- building ------------------------------------------------------------------------

    def _raw(self, key: str, *, strip: bool = True) -> str:
        value = self.data.get(PREFIX + key)
        if not isinstance(value, str):
            return ""
        return value.strip() if strip else value

    def _setting_fields(self) -> list[RunField]:
        version = self.version
        experiment = version.default_experiment or {}
        fields = []
        kinds = [FMI_TYPE_LABELS[kind] for kind in version.runnable_kinds]
        if kinds:
            default = kinds[0][0]  # the API's default: Co-Simulation when offered
            fields.append(
                RunField(
                    "fmi_type",
                    "run-fmi-type",
                    "Interface",
                    widget="select",
                    choices=kinds,
                    value=self._raw("fmi_type") or default,
                    default=default,
                )
            )
        if version.supports_model_exchange:
            fields.append(
                RunField(
                    "solver",
                    "run-solver",
                    "Solver",
                    widget="select",
                    choices=[("CVode", "CVode (variable step)"), ("Euler", "Euler (fixed step)")],
                    value=self._raw("solver") or "CVode",
                    default="CVode",
                    help="Applies to Model Exchange runs.",
                    rules={"solver": "1"},
                )
            )
        start = _bound(str(experiment.get("start_time"))) or 0.0
        stop = _bound(str(experiment.get("stop_time")))
        # Without a default stop time the API stops 1 s after the start (whatever it is).
        stop_rules = {"after-start": "1"}
        if stop is not None:
            stop_rules["effective"] = _number_text(stop)
        max_time = "1e12"
        fields += [
            RunField(
                "start_time",
                "run-start",
                "Start time",
                unit="s",
                step="any",
                min="-" + max_time,
                max=max_time,
                value=self._raw("start_time"),
                placeholder=_number_text(start),
                rules={"effective": _number_text(start)},
            ),
            RunField(
                "stop_time",
                "run-stop",
                "Stop time",
                unit="s",
                step="any",
                min="-" + max_time,
                max=max_time,
                value=self._raw("stop_time"),
                placeholder=_number_text(stop) if stop is not None else "start time + 1",
                rules=stop_rules,
            ),
            RunField(
                "output_interval",
                "run-interval",
                "Output interval",
                unit="s",
                step="any",
                max=max_time,
                value=self._raw("output_interval"),
                placeholder="automatic",
                rules={
                    "exclusive-min": "0",
                    "max-points": str(django_settings.JOB_MAX_OUTPUT_POINTS),
                },
            ),
            RunField(
                "relative_tolerance",
                "run-rtol",
                "Relative tolerance",
                step="any",
                min=f"{MIN_RELATIVE_TOLERANCE:g}",
                value=self._raw("relative_tolerance"),
                placeholder=_number_text(experiment.get("tolerance")) or "solver default",
                rules={"exclusive-max": "1"},
            ),
        ]
        return fields

    def _variable_groups(self) -> tuple[list[RunGroup], bool, list[str]]:
        version = self.version
        wanted = {
            key[len(PREFIX) :]
            for key in self.data
            if isinstance(key, str)
            and key.startswith(PREFIX)
            and key[len(PREFIX) :] not in SETTING_KEYS
        }
        # Whatever may be settable (the service's rule decides below); constants never are.
        candidates = (
            Variable.objects.filter(version_id=version.pk)
            .exclude(variability="constant")
            .exclude(causality__in=("independent", "calculatedParameter"))
            .filter(
                Q(causality__in=SETTABLE_CAUSALITIES)
                | Q(initial__in=("exact", "approx"))
                | ~Q(start="")
                | Q(variability="parameter")
            )
            .filter(type__in=FORM_TYPES)
            .exclude(name__in=SETTING_KEYS)
            .order_by("id")
        )
        variables: list[Variable] = []
        truncated = False
        for variable in candidates.iterator(chunk_size=1000):
            if not is_settable(_info(variable), version.fmi_version):
                continue
            if len(variables) >= MAX_VARIABLE_FIELDS:
                truncated = True
                break
            variables.append(variable)
        shown = {variable.name for variable in variables}
        missing = wanted - shown
        if missing:  # named in a link but beyond the page's limit
            for variable in candidates.filter(name__in=missing):
                if is_settable(_info(variable), version.fmi_version):
                    variables.append(variable)
                    shown.add(variable.name)
        grouped: dict[str, list[RunField]] = {key: [] for key, _ in GROUPS}
        for index, variable in enumerate(variables):
            grouped[self._group_of(variable)].append(self._variable_field(index, variable))
        groups = [RunGroup(key, label, grouped[key]) for key, label in GROUPS if grouped[key]]
        return groups, truncated, sorted(wanted - shown)

    def _group_of(self, variable: Variable) -> str:
        if variable.causality == "input":
            return "inputs"
        if variable.causality in SETTABLE_CAUSALITIES or (
            self.version.fmi_version.startswith("1") and variable.variability == "parameter"
        ):
            return "parameters"
        return "initial"

    def _variable_field(self, index: int, variable: Variable) -> RunField:
        kind = variable.type
        run_field = RunField(
            variable.name,
            f"run-var-{index}",
            variable.name,
            unit=variable.unit,
            kind=kind,
            help=variable.description,
            value=self._raw(variable.name, strip=kind != "String"),
            placeholder=variable.start,
        )
        low, high = _bound(variable.min), _bound(variable.max)
        if kind in REAL_TYPES:
            run_field.step = "any"
            run_field.min, run_field.max = (
                variable.min if low is not None else "",
                (variable.max if high is not None else ""),
            )
        elif kind == "Enumeration" and low is not None and high is not None:
            first, last = math.ceil(low), math.floor(high)
            if 0 <= last - first < MAX_ENUM_CHOICES:
                run_field.widget = "select"
                label = f"model default ({variable.start})" if variable.start else "model default"
                run_field.choices = [("", label)] + [
                    (str(n), str(n)) for n in range(first, last + 1)
                ]
            else:
                self._integer(run_field, kind, low, high)
        elif kind in INTEGER_TYPES:
            self._integer(run_field, kind, low, high)
        elif kind == "Boolean":
            run_field.widget = "select"
            label = f"model default ({variable.start})" if variable.start else "model default"
            run_field.choices = [("", label), ("true", "true"), ("false", "false")]
        else:  # String
            run_field.input_type = "text"
            run_field.maxlength = MAX_STRING_VALUE
        return run_field

    @staticmethod
    def _integer(run_field: RunField, kind: str, low: float | None, high: float | None) -> None:
        type_low, type_high = INTEGER_RANGES.get(kind, INTEGER_RANGES["Integer"])
        run_field.step = "1"
        run_field.min = str(max(type_low, math.ceil(low)) if low is not None else type_low)
        run_field.max = str(min(type_high, math.floor(high)) if high is not None else type_high)

    # --- reading -------------------------------------------------------------------------

    @property
    def fields(self) -> list[RunField]:
        return [*self.setting_fields, *(f for group in self.groups for f in group.fields)]

    @property
    def variable_count(self) -> int:
        return sum(len(group.fields) for group in self.groups)

    @property
    def filterable(self) -> bool:
        return self.variable_count > COLLAPSE_OVER

    def to_settings(self) -> dict[str, Any]:
        """The API's settings for the entered values (empty fields: the model's defaults)."""
        data: dict[str, Any] = {
            f.key: f.value for f in self.setting_fields if f.value != "" and f.key in SETTING_KEYS
        }
        starts = {f.key: f.value for group in self.groups for f in group.fields if f.value != ""}
        # A name the form does not offer goes to the service too, which refuses it with reason.
        for name in self.ignored:
            starts[name] = self._raw(name)
        if starts:
            data["start_values"] = starts
        return data

    def add_errors(self, exc: DomainError) -> None:
        """Put the service's refusal next to the fields it names (the rest above the form)."""
        self.status_code = exc.status_code
        for key, problems in (exc.fields or {}).items():
            if key == "start_values" and isinstance(problems, Mapping):
                for name, entries in problems.items():
                    self._attach(name, entries, label=name)
            else:
                self._attach(key, problems, label=key)
        self.errors.insert(0, exc.detail)
        refused = [f for f in self.fields if f.errors]
        if refused:
            refused[0].autofocus = True

    def _attach(self, key: str, entries: Any, *, label: str) -> None:
        details = [
            entry.get("detail", "") if isinstance(entry, Mapping) else str(entry)
            for entry in (entries if isinstance(entries, list) else [entries])
        ]
        target = self.by_key.get(key)
        if target is not None:
            target.errors.extend(details)
        else:
            self.errors.extend(f"{label}: {detail}" for detail in details)

    # --- sharing -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return version_page_url(self.version)

    @property
    def share_query(self) -> str:
        pairs = [(f.name, f.value) for f in self.fields if f.value != "" and f.value != f.default]
        return urlencode(pairs)

    @property
    def share_url(self) -> str:
        query = self.share_query
        return self.base_url + (f"?{query}" if query else "") + "#run"


def _info(variable: Variable) -> VariableInfo:
    return VariableInfo(
        variable.name,
        variable.causality,
        variable.variability,
        variable.initial,
        variable.type,
        variable.start,
        variable.min,
        variable.max,
        variable.unit,
    )


def version_page_url(version: PackageVersion) -> str:
    package: Package = version.package
    return reverse("package-version", args=[package.slug, version.version])


def configuration_url(version: PackageVersion, settings: Mapping[str, Any]) -> str:
    """The package page link that opens the run form filled with ``settings`` (a job's stored
    settings or an API request body): "Re-run with edits" links here."""
    pairs: list[tuple[str, str]] = []
    fmi_type = settings.get("fmi_type")
    if fmi_type:
        short = FMI_TYPE_LABELS.get(str(fmi_type), (str(fmi_type), ""))[0]
        pairs.append((PREFIX + "fmi_type", short))
    if settings.get("solver") and settings.get("solver") != "CVode":
        pairs.append((PREFIX + "solver", str(settings["solver"])))
    for key in ("start_time", "stop_time", "output_interval", "relative_tolerance"):
        if settings.get(key) is not None:
            pairs.append((PREFIX + key, _number_text(settings[key])))
    # By name: stored settings (JSON) do not keep the order the values were given in.
    for name, value in sorted((settings.get("start_values") or {}).items()):
        if name not in SETTING_KEYS:
            pairs.append((PREFIX + name, _number_text(value)))
    query = urlencode(pairs)
    return version_page_url(version) + (f"?{query}" if query else "") + "#run"


def run_form_context(
    request: HttpRequest, package: Package, current: PackageVersion | None
) -> dict[str, Any]:
    """Package page extension: the run form of the shown version, filled from the page's
    ``run.*`` query, or the refused form ``job_create`` hands back with its errors. Built only
    if the page shows it (lazily: no query for visitors who cannot run)."""
    if current is None:
        return {}
    refused = getattr(request, REQUEST_ATTR, None)
    if isinstance(refused, RunForm) and refused.version.pk == current.pk:
        return {"run_form": refused}
    current.package = package  # the same row: its URL needs no query
    return {"run_form": SimpleLazyObject(lambda: RunForm(current, request.GET))}
