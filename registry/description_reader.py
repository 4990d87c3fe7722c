"""Streaming reader of ``modelDescription.xml`` for the upload inspection (pure Python).

One pass with the standard library's expat parser through defusedxml, so a DOCTYPE (and with
it any entity) is refused before anything else in the document is read. Each variable and
model-structure element is dropped as soon as it has been read: memory grows with compact
rows of the variables, spooled to an anonymous temporary file, never with the document's tree.
A description with 100,000 variables (~15 MB) is read in about a second with a few MB.

The facts are the ones ``fmpy.read_model_description`` derives (same defaults for
``variability`` and ``initial``, the same declared-type resolution, FMI 3 aliases appended
after the variables). What would stop fmpy from reading the description (an undefined
declared type, an illegal causality/variability pair, a model-structure index that points
nowhere...) is collected in ``DescriptionFacts.problems`` rather than raised: the caller
decides whether fmpy's own messages come first.

:func:`validate_schema` checks a description against fmpy's XSD for its FMI version, also
streaming (lxml validates while it parses; elements are dropped once seen).
"""

from __future__ import annotations

import functools
import json
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as DefusedET

#: fmpy's defaults of ``initial`` by variability and causality (FMI 2 and 3).
INITIAL_DEFAULTS: dict[str, dict[str, str | None]] = {
    "constant": {"output": "exact", "local": "exact"},
    "fixed": {
        "structuralParameter": "exact",
        "parameter": "exact",
        "calculatedParameter": "calculated",
        "local": "calculated",
    },
    "tunable": {
        "structuralParameter": "exact",
        "parameter": "exact",
        "calculatedParameter": "calculated",
        "local": "calculated",
    },
    "discrete": {"input": "exact", "output": "calculated", "local": "calculated"},
    "continuous": {
        "input": "exact",
        "output": "calculated",
        "local": "calculated",
        "independent": None,
    },
}
LEGACY_TYPES = frozenset({"Real", "Integer", "Boolean", "String", "Enumeration"})
FMI3_TYPES = frozenset(
    {
        "Float32",
        "Float64",
        "Int8",
        "UInt8",
        "Int16",
        "UInt16",
        "Int32",
        "UInt32",
        "Int64",
        "UInt64",
        "Boolean",
        "String",
        "Binary",
        "Enumeration",
        "Clock",
    }
)
REAL_TYPES = frozenset({"Real", "Float32", "Float64"})
PARAMETER_CAUSALITIES = frozenset({"parameter", "calculatedParameter", "structuralParameter"})
INTERFACE_KINDS = ("ModelExchange", "CoSimulation", "ScheduledExecution")
ROOT_ATTRIBUTES = (
    "modelName",
    "guid",
    "instantiationToken",
    "description",
    "author",
    "version",
    "copyright",
    "license",
    "generationTool",
    "generationDateAndTime",
    "variableNamingConvention",
)
#: FMI 3 model-structure elements that count states and event indicators.
FMI3_STRUCTURE = frozenset(
    {"Output", "ContinuousStateDerivative", "ClockedState", "InitialUnknown", "EventIndicator"}
)
_MAX_PROBLEMS = 20
_SPOOL_IN_MEMORY = 1024 * 1024
_BATCH = 2000


class ReaderError(Exception):
    """The document cannot be read at all (code as in ``registry.inspection.ERROR_CODES``)."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


@dataclass
class Variable:
    name: str
    value_reference: int | None
    causality: str | None
    variability: str | None
    type: str | None
    unit: str | None = None
    start: str | None = None
    min: str | None = None
    max: str | None = None
    nominal: str | None = None
    description: str | None = None
    initial: str | None = None
    declared_type: str | None = None
    shape: list[int] | None = None  # FMI 3 arrays with fixed dimensions


_FIELDS = tuple(Variable.__dataclass_fields__)


class VariableTable:
    """The variables of a description, in document order, kept as JSON lines in an anonymous
    temporary file (in memory while small). Iterate it as many times as needed."""

    def __init__(self) -> None:
        # Lives as long as the table: closed by ``close`` or when the table is collected.
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        self._closer = weakref.finalize(self, self._file.close)
        self._count = 0

    def append(self, variable: Variable) -> None:
        row = [getattr(variable, name) for name in _FIELDS]
        self._file.write(json.dumps(row, separators=(",", ":")).encode() + b"\n")
        self._count += 1

    def extend(self, other: VariableTable) -> None:
        for variable in other:
            self.append(variable)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Variable]:
        position = 0
        while True:
            self._file.seek(position)
            lines = self._file.readlines(_BATCH * 128)
            if not lines:
                return
            position = self._file.tell()
            for line in lines:
                yield Variable(*json.loads(line))

    def close(self) -> None:
        self._closer()


@dataclass
class InterfaceFacts:
    kind: str
    model_identifier: str
    needs_execution_tool: bool = False
    can_get_and_set_fmu_state: bool = False
    can_handle_variable_step_size: bool = False


@dataclass
class DescriptionFacts:
    fmi_version: str
    attributes: dict[str, str | None]
    interfaces: list[InterfaceFacts]
    default_experiment: dict[str, str | None] | None
    number_of_continuous_states: int
    number_of_event_indicators: int
    variables: VariableTable
    problems: list[str] = field(default_factory=list)


def _flag(value: str | None) -> bool:
    return value in {"true", "1"}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass
class _DeclaredType:
    name: str | None
    unit: str | None
    min: str | None
    max: str | None
    nominal: str | None


class _Reader:
    def __init__(self, check_version) -> None:
        self.check_version = check_version
        self.fmi_version = ""
        self.attributes: dict[str, str | None] = {}
        self.interfaces: dict[str, InterfaceFacts] = {}
        self.fmi1_identifier: str | None = None
        self.fmi1_cosimulation = False
        self.default_experiment: dict[str, str | None] | None = None
        self.types: dict[str, _DeclaredType] = {}
        self.variables = VariableTable()
        self.aliases = VariableTable()
        self.problems: list[str] = []
        self.n_states = 0
        self.n_event_indicators = 0
        # FMI 2: the 1-based indices the model structure and derivatives point at.
        self.indices: list[int] = []
        # FMI 3: value references, array sizes and the references the structure uses.
        self.value_references: set[int] = set()
        self.array_dimensions: dict[int, list[tuple[int | None, int | None]]] = {}
        self.dimension_starts: dict[int, str | None] = {}
        self.referenced: list[tuple[str, int]] = []
        self.state_references: list[int] = []
        self.indicator_references: list[int] = []

    @property
    def major(self) -> str:
        return self.fmi_version.split(".")[0]

    def problem(self, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(message)

    # -- elements -------------------------------------------------------------------------

    def root(self, element: Element) -> None:
        self.fmi_version = self.check_version(element)
        self.attributes = {name: element.get(name) for name in ROOT_ATTRIBUTES}
        if self.major == "3":
            self.attributes["guid"] = element.get("instantiationToken")
        indicators = element.get("numberOfEventIndicators")
        if indicators is not None:
            self.n_event_indicators = _int(indicators) or 0
            if _int(indicators) is None:
                self.problem(f"numberOfEventIndicators={indicators!r} is not an integer.")
        if self.major == "1":
            self.fmi1_identifier = element.get("modelIdentifier")
            states = _int(element.get("numberOfContinuousStates"))
            if states is None:
                self.problem("numberOfContinuousStates is missing or not an integer.")
            self.n_states = states or 0

    def top_level(self, element: Element) -> None:
        tag = element.tag
        if tag in INTERFACE_KINDS and self.major != "1":
            if tag == "ScheduledExecution" and self.major == "2":
                return
            state_attribute = (
                "canGetAndSetFMUState" if self.major == "3" else "canGetAndSetFMUstate"
            )
            self.interfaces[tag] = InterfaceFacts(
                kind=tag,
                model_identifier=element.get("modelIdentifier") or "",
                needs_execution_tool=_flag(element.get("needsExecutionTool")),
                can_get_and_set_fmu_state=_flag(element.get(state_attribute)),
                can_handle_variable_step_size=_flag(
                    element.get("canHandleVariableCommunicationStepSize")
                ),
            )
        elif tag == "DefaultExperiment":
            self.default_experiment = {
                name: element.get(name)
                for name in ("startTime", "stopTime", "tolerance", "stepSize")
            }
        elif tag == "Implementation" and self.major == "1":
            self.fmi1_cosimulation = True

    def type_definition(self, element: Element) -> None:
        if self.major == "3":
            if not element.tag.endswith("Type") or element.tag[:-4] not in FMI3_TYPES:
                return
            values = element
        else:
            if element.tag != ("Type" if self.major == "1" else "SimpleType") or len(element) == 0:
                return
            values = element[0]
        name = element.get("name")
        self.types[name or ""] = _DeclaredType(
            name, values.get("unit"), values.get("min"), values.get("max"), values.get("nominal")
        )

    def variable(self, element: Element) -> None:
        name = element.get("name")
        if name is None:
            return
        value_reference = _int(element.get("valueReference"))
        if value_reference is None:
            self.problem(f'Variable "{name}" has no valid valueReference.')
        if self.major == "3":
            kind = element.tag
            if kind not in FMI3_TYPES:
                self.problem(f'Variable "{name}" has the unknown type <{kind}>.')
                return
            value = element
        else:
            legacy = next((child for child in element if child.tag in LEGACY_TYPES), None)
            if legacy is None:
                self.problem(f'Variable "{name}" has no type element (Real, Integer, ...).')
                return
            value = legacy
            kind = value.tag
        causality = element.get("causality", "local")
        variability = element.get("variability")
        initial = element.get("initial")
        if kind in {"Binary", "String"} and self.major == "3":
            start_element = element.find("Start")
            start = start_element.get("value") if start_element is not None else None
        else:
            start = value.get("start")
        real = kind in REAL_TYPES
        bounded = kind in {"Real", "Enumeration"} or kind.startswith(("Float", "Int"))
        declared_name = value.get("declaredType")
        declared = None
        if declared_name is not None:
            declared = self.types.get(declared_name)
            if declared is None:
                self.problem(
                    f'Variable "{name}" has declaredType="{declared_name}" which has not been '
                    "defined."
                )
        if self.major == "1":
            if causality == "internal":
                causality = "local"
            if variability == "parameter":
                causality, variability = "parameter", "fixed"
        if variability is None:
            if self.major != "3":
                variability = "continuous"
            elif causality in PARAMETER_CAUSALITIES:
                variability = "fixed"
            elif kind in {"Float32", "Float64"}:
                variability = "continuous"
            else:
                variability = "discrete"
        if initial is None and self.major != "1":
            defaults = INITIAL_DEFAULTS.get(variability, {})
            if causality not in defaults:
                self.problem(
                    f'Variable "{name}" has an illegal combination of causality="{causality}" '
                    f'and variability="{variability}".'
                )
            initial = defaults.get(causality)

        min_ = value.get("min") if bounded else None
        max_ = value.get("max") if bounded else None
        nominal = value.get("nominal") if real else None
        unit = value.get("unit") if real else None
        shape = None
        dimensions = element.findall("Dimension") if self.major == "3" else []
        if dimensions:
            spec = [(_int(d.get("start")), _int(d.get("valueReference"))) for d in dimensions]
            starts = [start for start, _ in spec if start is not None]
            if len(starts) == len(spec):
                shape = starts
            if value_reference is not None:
                self.array_dimensions[value_reference] = spec
            for _, reference in spec:
                if reference is not None:
                    self.referenced.append((f'a dimension of "{name}"', reference))
        variable = Variable(
            name=name,
            value_reference=value_reference,
            causality=causality,
            variability=variability,
            type=kind,
            unit=unit or (declared.unit if declared is not None else None),
            start=start,
            min=min_ if min_ is not None else (declared.min if declared else None),
            max=max_ if max_ is not None else (declared.max if declared else None),
            nominal=nominal if nominal is not None else (declared.nominal if declared else None),
            description=element.get("description"),
            initial=initial,
            declared_type=declared.name if declared is not None else None,
            shape=shape,
        )
        self.variables.append(variable)

        derivative = value.get("derivative") if real else None
        if self.major == "2":
            if derivative is not None:
                index = _int(derivative)
                self.indices.append(index if index is not None else 0)
        elif self.major == "3":
            if value_reference is not None:
                self.value_references.add(value_reference)
                if causality == "structuralParameter" or variability == "constant":
                    self.dimension_starts[value_reference] = start
            if derivative is not None:
                self.referenced.append((f'the derivative of "{name}"', _int(derivative) or -1))
            for clock in (element.get("clocks") or "").split():
                self.referenced.append((f'a clock of "{name}"', _int(clock) or -1))
            for alias in element.findall("Alias"):
                self.aliases.append(
                    Variable(
                        **{
                            **variable.__dict__,
                            "name": alias.get("name"),
                            "description": alias.get("description") or variable.description,
                        }
                    )
                )

    def structure(self, element: Element, parent_tag: str | None) -> None:
        if self.major == "2" and element.tag == "Unknown":
            index = _int(element.get("index"))
            self.indices.append(index if index is not None else 0)
            for dependency in (element.get("dependencies") or "").split():
                self.indices.append(_int(dependency) or 0)
            if parent_tag == "Derivatives":
                self.n_states += 1
        elif self.major == "3" and element.tag in FMI3_STRUCTURE:
            reference = _int(element.get("valueReference"))
            self.referenced.append(
                (f"ModelStructure/{element.tag}", -1 if reference is None else reference)
            )
            for dependency in (element.get("dependencies") or "").split():
                self.referenced.append(
                    (f"ModelStructure/{element.tag} dependencies", _int(dependency) or -1)
                )
            if reference is not None and element.tag == "ContinuousStateDerivative":
                self.state_references.append(reference)
            if reference is not None and element.tag == "EventIndicator":
                self.indicator_references.append(reference)

    # -- end of document ------------------------------------------------------------------

    def _size(self, value_reference: int) -> int:
        size = 1
        for start, reference in self.array_dimensions.get(value_reference, []):
            if start is None:
                start = (
                    _int(self.dimension_starts.get(reference)) if reference is not None else None
                )
            if start is None:
                self.problem(f"A dimension of variable {value_reference} cannot be resolved.")
                return 1
            size *= start
        return size

    def finish(self) -> DescriptionFacts:
        count = len(self.variables)
        if self.major == "2":
            bad = [index for index in self.indices if not 1 <= index <= count]
            if bad:
                self.problem(
                    f"The model structure or a derivative refers to variable index {bad[0]}, "
                    f"but there are {count} variables."
                )
        elif self.major == "3":
            for what, reference in self.referenced:
                if reference not in self.value_references:
                    self.problem(
                        f"{what} refers to value reference {reference}, which no variable has."
                    )
                    break
            self.n_states = sum(self._size(vr) for vr in self.state_references)
            self.n_event_indicators += sum(self._size(vr) for vr in self.indicator_references)
        interfaces = [self.interfaces[kind] for kind in INTERFACE_KINDS if kind in self.interfaces]
        if self.major == "1":
            kind = "CoSimulation" if self.fmi1_cosimulation else "ModelExchange"
            interfaces = [InterfaceFacts(kind, self.fmi1_identifier or "")]
        self.variables.extend(self.aliases)
        self.aliases.close()
        return DescriptionFacts(
            fmi_version=self.fmi_version,
            attributes=self.attributes,
            interfaces=interfaces,
            default_experiment=self.default_experiment,
            number_of_continuous_states=self.n_states,
            number_of_event_indicators=self.n_event_indicators,
            variables=self.variables,
            problems=self.problems,
        )


def read_description(source: IO[bytes], check_version) -> DescriptionFacts:
    """Read ``source`` (a binary stream of ``modelDescription.xml``) in one streaming pass.

    ``check_version(root)`` is called with the root element as soon as it starts (attributes
    only) and returns the FMI version or raises. Raises :class:`ReaderError` for a DOCTYPE
    (``xml_entities_forbidden``) or XML that is not well formed
    (``malformed_model_description``)."""
    reader = _Reader(check_version)
    stack: list[Element] = []
    try:
        for event, element in DefusedET.iterparse(source, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                stack.append(element)
                if len(stack) == 1:
                    reader.root(element)
                elif len(stack) == 2:
                    reader.top_level(element)
                continue
            stack.pop()
            depth = len(stack) + 1
            if depth < 3:
                continue
            section = stack[1].tag
            if depth == 3:
                if section == "ModelVariables":
                    reader.variable(element)
                elif section == "TypeDefinitions":
                    reader.type_definition(element)
                elif section == "ModelStructure" and reader.major == "3":
                    reader.structure(element, None)
                if section in {"ModelVariables", "ModelStructure"}:
                    stack[-1].remove(element)  # read: drop it
            elif depth == 4 and section == "ModelStructure":
                reader.structure(element, stack[2].tag)
                stack[-1].remove(element)
    except defusedxml.DefusedXmlException as exc:
        raise ReaderError(
            "xml_entities_forbidden",
            "modelDescription.xml declares a DOCTYPE, entities or external references "
            f"({type(exc).__name__}); these are not allowed in FMUs.",
        ) from exc
    except ParseError as exc:
        line, column = getattr(exc, "position", (None, None))
        raise ReaderError(
            "malformed_model_description",
            f"modelDescription.xml is not well-formed XML (line {line}, column {column}): {exc}",
        ) from exc
    except (ValueError, LookupError) as exc:  # e.g. an unknown encoding declaration
        raise ReaderError(
            "malformed_model_description", f"modelDescription.xml cannot be decoded: {exc}"
        ) from exc
    if not reader.fmi_version:
        raise ReaderError("malformed_model_description", "modelDescription.xml is empty.")
    return reader.finish()


@functools.cache
def _schema(major: str) -> Any:
    import fmpy
    from lxml import etree

    name = {"1": "fmi1/fmiModelDescription.xsd", "2": "fmi2/fmi2ModelDescription.xsd"}.get(
        major, "fmi3/fmi3ModelDescription.xsd"
    )
    return etree.XMLSchema(file=str(Path(fmpy.__file__).parent / "schema" / name))


def validate_schema(source: IO[bytes], fmi_version: str) -> str | None:
    """The first XSD violation of ``source`` (fmpy's schema for its FMI version), or None.

    Call it only on bytes :func:`read_description` accepted (no DOCTYPE)."""
    from lxml import etree

    depth = 0
    try:
        for event, element in etree.iterparse(
            source,
            events=("start", "end"),
            schema=_schema(fmi_version.split(".")[0]),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        ):
            if event == "start":
                depth += 1
                continue
            depth -= 1
            if depth >= 2:  # a grandchild of the root or deeper: validated, drop it
                element.clear(keep_tail=True)
                parent = element.getparent()
                while element.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        return exc.msg or str(exc)
    return None
