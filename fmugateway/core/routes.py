"""Every operation the API routes, walked from the URL conf (the source of truth for routing).

The scope system check and the tests that must hold for every operation (scopes, error format,
schema coverage, authorization) iterate ``api_operations()`` instead of sampling endpoints.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

API_PREFIX = "/api/v1/"
METHODS = ("get", "post", "put", "patch", "delete")
# Values that name nothing that exists, so a request reaches the view's checks but no object.
SAMPLE_VALUES = {"int": "987654", "uuid": str(uuid.UUID(int=7)), "slug": "no-such-thing"}


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    route: str  # "/api/v1/jobs/<uuid:pk>"
    path: str  # a concrete path with sample values
    view: type

    @property
    def schema_path(self) -> str:
        """The OpenAPI path: ``/api/v1/jobs/{id}`` (drf-spectacular names ``pk`` ``id``)."""
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.route)
        return path.replace("{pk}", "{id}")

    def __str__(self) -> str:
        return f"{self.method} {self.route}"


def _concrete(route: str) -> str:
    def sample(match: re.Match) -> str:
        converter = match.group(1) or "str"
        return SAMPLE_VALUES.get(converter, "no-such-thing")

    return re.sub(r"<(?:(\w+):)?\w+>", sample, route)


def _walk(resolver: URLResolver, prefix: str):
    for entry in resolver.url_patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route, entry


def api_operations() -> list[Operation]:
    """(method, route, view class) of every DRF view under ``/api/v1/``."""
    root = get_resolver()
    operations = []
    for route, pattern in _walk(root, "/"):
        view = getattr(pattern.callback, "cls", None)
        if not route.startswith(API_PREFIX) or view is None:
            continue  # not the API, or the catch-all (a plain view answering JSON 404s)
        initkwargs = getattr(pattern.callback, "initkwargs", {}) or {}
        allowed = initkwargs.get("http_method_names", view.http_method_names)
        for method in METHODS:
            if method in allowed and hasattr(view, method):
                operations.append(Operation(method.upper(), route, _concrete(route), view))
    return operations
