"""Checks of real answers against the published OpenAPI document (for the API contract tests)."""

from __future__ import annotations

import functools

import jsonschema
from drf_spectacular.generators import SchemaGenerator


@functools.cache
def api_schema() -> dict:
    return SchemaGenerator(api_version="v1").get_schema(request=None, public=True)


def _strict(node):
    """OpenAPI 3.0 → JSON Schema: ``nullable`` as a null alternative; objects with properties
    allow no other keys (so an undocumented key fails too)."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    if out.pop("nullable", False):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def response_schema(method: str, path: str, status: int, media: str = "application/json"):
    """The schema the document gives for this answer (KeyError when it documents none)."""
    schema = api_schema()
    response = schema["paths"][path][method.lower()]["responses"][str(status)]
    return response["content"][media]["schema"]


def component(name: str) -> dict:
    return api_schema()["components"]["schemas"][name]


def assert_conforms(method: str, path: str, status: int, body) -> None:
    """``body`` is exactly what the document says this answer is (no undocumented key)."""
    node = response_schema(method, path, status)
    wrapped = {"allOf": [_strict(node)], "components": _strict(api_schema()["components"])}
    errors = list(
        jsonschema.Draft4Validator(
            wrapped, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
        ).iter_errors(body)
    )
    assert not errors, "\n".join(
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in errors[:10]
    )
