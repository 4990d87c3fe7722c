"""The OpenAPI document is a contract a client generator can trust.

It validates without a single drf-spectacular warning; it describes every request and response
body (no free-form objects, no bodiless 200s), every error in the ``Error`` format, paging
parameters, and a range for every number a client sends. Each rule walks every operation.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from fmugateway.core.routes import api_operations
from fmugateway.core.schema import generate_api_schema

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema() -> dict:
    return generate_api_schema()


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def _resolve(schema: dict, node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def _walk(schema: dict, node, where: str, seen: set):
    """Yield (where, sub-schema) for every schema reachable from ``node``."""
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen.add(name)
        yield from _walk(schema, schema["components"]["schemas"][name], name, seen)
        return
    yield where, node
    for key in ("allOf", "oneOf", "anyOf"):
        for index, child in enumerate(node.get(key, [])):
            yield from _walk(schema, child, f"{where}.{key}[{index}]", seen)
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(schema, child, f"{where}.{name}", seen)
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(schema, node["additionalProperties"], f"{where}.*", seen)
    if isinstance(node.get("items"), dict):
        yield from _walk(schema, node["items"], f"{where}[]", seen)


def _bodies(operation: dict):
    request = operation.get("requestBody", {}).get("content", {})
    for media, content in request.items():
        yield "request", media, content.get("schema")
    for status, response in operation["responses"].items():
        for media, content in (response.get("content") or {}).items():
            yield status, media, content.get("schema")


def _free_form(node: dict) -> bool:
    """An object without properties or typed values, or a schema that allows anything."""
    if node.get("type") == "object":
        extra = node.get("additionalProperties")
        return not node.get("properties") and not isinstance(extra, dict)
    return not (node.keys() - {"description", "readOnly", "nullable", "title"})


def test_the_schema_validates_without_a_warning(tmp_path):
    out = io.StringIO()
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--api-version",
        "v1",
        "--file",
        str(tmp_path / "schema.yaml"),
        stderr=out,
    )


def test_every_routed_operation_is_in_the_schema(schema):
    documented = {name for name, _ in _operations(schema)}
    hidden = {"GET /api/v1/", "GET /api/v1/schema/", "GET /api/v1/docs/"}
    routed = {f"{op.method} {op.schema_path}" for op in api_operations()} - hidden
    assert routed - documented == set()
    assert documented - routed == set()


def test_no_body_is_a_free_form_object(schema):
    free = []
    for name, operation in _operations(schema):
        for status, media, body in _bodies(operation):
            if not media.endswith("json"):
                continue
            if body is None:
                free.append(f"{name} {status}: no schema")
                continue
            for where, node in _walk(schema, body, f"{status}", set()):
                if _free_form(node):
                    free.append(f"{name} {status} {where}")
    assert not free, "\n".join(free)


def test_every_success_has_a_described_body_or_is_204_or_a_redirect(schema):
    bodiless = []
    for name, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if status.startswith("2") and status != "204" and not response.get("content"):
                bodiless.append(f"{name} {status}")
            if status == "302" and "Location" not in (response.get("headers") or {}):
                bodiless.append(f"{name} 302 without a Location header")
    assert not bodiless


def test_every_operation_documents_its_errors_in_the_error_format(schema):
    missing = []
    for name, operation in _operations(schema):
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        if "400" not in errors:
            missing.append(f"{name}: no 400")
        for status, response in errors.items():
            body = (response.get("content") or {}).get("application/json", {}).get("schema", {})
            if body.get("$ref") != "#/components/schemas/Error":
                missing.append(f"{name} {status}: not the Error format")
    assert not missing, "\n".join(missing)


def test_every_number_a_client_sends_has_a_range(schema):
    unbounded = []
    for name, operation in _operations(schema):
        sources = [
            (f"query {p['name']}", p.get("schema", {}))
            for p in operation.get("parameters", [])
            if p.get("in") in ("query", "header")
        ]
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            sources.append((f"body {media}", content.get("schema")))
        for label, body in sources:
            for where, node in _walk(schema, body, label, set()):
                if node.get("readOnly"):
                    continue
                if node.get("type") in ("integer", "number") and not (
                    {"minimum", "exclusiveMinimum"} & node.keys()
                    and {"maximum", "exclusiveMaximum"} & node.keys()
                ):
                    unbounded.append(f"{name} {where}")
    assert not unbounded, "\n".join(unbounded)


def test_paginated_lists_document_their_paging_parameters(schema):
    missing = []
    for name, operation in _operations(schema):
        ok = _resolve(
            schema,
            (operation["responses"].get("200", {}).get("content") or {})
            .get("application/json", {})
            .get("schema", {}),
        )
        if {"results", "next"} <= set((ok or {}).get("properties", {})):
            names = {p["name"] for p in operation.get("parameters", [])}
            if not ({"page", "page_size"} <= names or "cursor" in names):
                missing.append(name)
    assert not missing, missing


def test_the_suite_wide_check_catches_an_answer_the_schema_does_not_allow():
    from django.http import HttpResponse, JsonResponse

    from fmugateway.tests.conformance import ResponseChecker

    checker = ResponseChecker()
    checker.check("GET", "/api/v1/billing/balance", JsonResponse({"balance": "lots"}))
    checker.check("GET", "/api/v1/billing/balance", JsonResponse({}, status=418))
    checker.check("GET", "/api/v1/billing/balance", HttpResponse("x", content_type="text/csv"))
    checker.check("GET", "/api/v1/jobs/4f1c6b1e-0000-4000-8000-000000000000", JsonResponse({}))
    checker.check("GET", "/api/v1/no/such/route", JsonResponse({}, status=404))

    problems = "\n".join(checker.problems)
    assert "GET /api/v1/billing/balance → 200: (body): 'available' is a required" in problems
    assert "GET /api/v1/billing/balance → 418: status not documented" in problems
    assert "text/csv not documented" in problems
    assert "GET /api/v1/jobs/{id} → 200: (body):" in problems
    assert len(checker.problems) >= 4 and "/no/such/route" not in problems
