"""Every API answer a test receives must be one the OpenAPI document allows.

``ResponseChecker`` matches each response of the Django test clients (``Client`` and DRF's
``APIClient``) under ``/api/v1/`` to its operation in the schema the project serves, then
checks that the status is documented and that a JSON body validates against the documented
schema (OpenAPI 3.0 read as JSON Schema: ``nullable``, ``$ref``, formats ``date-time``, ``date``,
``uri``, ``uuid`` and ``email`` checked). The root conftest loads this module as a plugin, so
its autouse fixture checks every answer of the whole suite: the thousand tests that exercise
the API with real data are also a conformance test.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from urllib.parse import urlsplit

import jsonschema
import pytest

API_PREFIX = "/api/v1/"
SKIP_PATHS = ("/api/v1/schema/", "/api/v1/docs/")
_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@_FORMATS.checks("date", raises=ValueError)
def _date(value) -> bool:
    if isinstance(value, str):
        date.fromisoformat(value)
    return True


@_FORMATS.checks("uri")
def _uri(value) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and (parts.netloc or parts.scheme in ("mailto", "urn")))


@_FORMATS.checks("uuid", raises=ValueError)
def _uuid(value) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


@_FORMATS.checks("email")
def _email(value) -> bool:
    return not isinstance(value, str) or "@" in value


def as_json_schema(node):
    """OpenAPI 3.0 schema → JSON Schema (``nullable`` → a null type, refs to ``$defs``). An
    object that lists its properties allows no other key: an undocumented key in an answer is a
    contract break too."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref":
            out["$ref"] = "#/$defs/" + value.rsplit("/", 1)[-1]
        elif key in ("nullable", "readOnly", "writeOnly", "example", "discriminator", "xml"):
            continue
        elif key in ("properties", "patternProperties"):
            out[key] = {name: as_json_schema(child) for name, child in value.items()}
        else:
            out[key] = as_json_schema(value)
    if node.get("type") == "object" and "properties" in node:
        out.setdefault("additionalProperties", False)
    if node.get("nullable"):
        if "$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
        elif "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@dataclass
class ResponseChecker:
    problems: list[str] = field(default_factory=list)

    @cached_property
    def schema(self) -> dict:
        from fmugateway.core.schema import generate_api_schema

        return generate_api_schema()

    @cached_property
    def defs(self) -> dict:
        components = self.schema.get("components", {}).get("schemas", {})
        return {name: as_json_schema(body) for name, body in components.items()}

    @cached_property
    def routes(self) -> list[tuple[re.Pattern, str]]:
        routes = []
        for path in self.schema["paths"]:
            literal_parts = re.split(r"\{[^}]+\}", path)
            pattern = "[^/]+".join(re.escape(part) for part in literal_parts)
            routes.append((re.compile(f"^{pattern}$"), path))
        # literal segments win over parameters (/licenses/held before /licenses/{id})
        routes.sort(key=lambda item: item[1].count("{"))
        return routes

    def operation(self, path: str, method: str) -> tuple[str, dict] | None:
        for pattern, template in self.routes:
            if pattern.match(path):
                found = self.schema["paths"][template].get(method.lower())
                return (template, found) if found is not None else None
        return None

    def check(self, method: str, path: str, response) -> None:
        if not path.startswith(API_PREFIX) or path.startswith(SKIP_PATHS):
            return
        found = self.operation(path, method)
        if found is None:
            return  # not an operation of the schema (a probe URL conf, an unknown route)
        template, operation = found
        where = f"{method} {template} → {response.status_code}"
        documented = operation["responses"].get(str(response.status_code))
        if documented is None:
            self.problems.append(f"{where}: status not documented")
            return
        content_type = response.get("Content-Type", "").split(";")[0].strip()
        if content_type == "text/html":
            return  # DRF's browsable API, for people: not part of the contract
        content = documented.get("content") or {}
        if not content:
            if response.status_code not in (204, 302) and getattr(response, "content", None):
                self.problems.append(f"{where}: a body where the schema documents none")
            return
        if content_type not in content:
            self.problems.append(f"{where}: {content_type or 'no content type'} not documented")
            return
        if "json" not in content_type or getattr(response, "streaming", False):
            return
        body = json.loads(response.content) if response.content else None
        for location, message in self.violations(content[content_type].get("schema", {}), body)[:3]:
            self.problems.append(f"{where}: {location}: {message}")

    def violations(self, schema: dict, body) -> list[tuple[str, str]]:
        """(path in the body, message) of each way ``body`` breaks the OpenAPI ``schema``."""
        validator = jsonschema.Draft202012Validator(
            {**as_json_schema(schema), "$defs": self.defs}, format_checker=_FORMATS
        )
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        return [
            ("/".join(str(part) for part in error.path) or "(body)", error.message[:200])
            for error in errors
        ]


_CHECKER: ResponseChecker | None = None


@pytest.fixture(autouse=True)
def _api_answers_conform_to_the_schema(request, monkeypatch):
    """Every answer a test gets from the API through the test clients must be one the OpenAPI
    document allows: a documented status, a body valid against its schema
    (``fmugateway.tests.conformance``). Mark a test ``no_conformance`` to opt out."""
    if request.node.get_closest_marker("no_conformance"):
        yield
        return
    from django.test.client import Client

    global _CHECKER
    if _CHECKER is None:
        _CHECKER = ResponseChecker()
    checker = _CHECKER
    original = Client.request

    def checked(self, **environ):
        response = original(self, **environ)
        checker.check(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""), response)
        return response

    monkeypatch.setattr(Client, "request", checked)
    before = len(checker.problems)
    yield
    problems = checker.problems[before:]
    del checker.problems[before:]
    if problems:
        pytest.fail("API answers the schema does not allow:\n" + "\n".join(problems), False)
