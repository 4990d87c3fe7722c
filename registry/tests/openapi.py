"""Checks of real answers against the published OpenAPI document (for the API contract tests).

The same check as the suite-wide one (``fmugateway.tests.conformance``), called directly so a
test can name the operation and status it expects.
"""

from __future__ import annotations

import functools

from fmugateway.tests.conformance import ResponseChecker


@functools.cache
def _checker() -> ResponseChecker:
    return ResponseChecker()


def api_schema() -> dict:
    return _checker().schema


def response_schema(method: str, path: str, status: int, media: str = "application/json"):
    """The schema the document gives for this answer (KeyError when it documents none)."""
    response = api_schema()["paths"][path][method.lower()]["responses"][str(status)]
    return response["content"][media]["schema"]


def component(name: str) -> dict:
    return api_schema()["components"]["schemas"][name]


def assert_conforms(method: str, path: str, status: int, body) -> None:
    """``body`` is exactly what the document says this answer is (no undocumented key)."""
    problems = _checker().violations(response_schema(method, path, status), body)
    assert not problems, "\n".join(f"{where}: {message}" for where, message in problems[:10])
