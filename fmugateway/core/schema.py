"""The OpenAPI document's conventions, applied to every operation by one AutoSchema.

* Every operation documents the errors it can answer, as the ``Error`` component (the JSON
  error format of ``fmugateway.core.api``): 400 always (fields, malformed JSON, NUL
  characters), 401 where credentials are read, 403 where a scope or an object check applies,
  404 with path parameters or on writes, 409 on writes, 413 and 415 with a request body, 422 with
  ``Idempotency-Key``, 429 under a rate limit, plus what a view adds in ``error_statuses`` (a
  set for every method, or a mapping of method to set).
* Its required scope (``fmugateway.core.scopes``) is in the description and in
  ``x-required-scope``; operations open to anonymous callers list the empty security
  requirement.
* Operations that honour ``Idempotency-Key`` document the header and ``Idempotent-Replayed``.
"""

from __future__ import annotations

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from fmugateway.core.scopes import requirement

ERROR_DESCRIPTIONS = {
    400: "Invalid request: `invalid` (see `fields`), `malformed_json`, or another stable code.",
    401: "No credential, or a refused one (`not_authenticated`, `api_key_*`, `token_*`).",
    402: "Payment required: not enough credits or runs (`insufficient_credits`, "
    "`run_quota_exhausted`), or the card was declined (`payment_declined`).",
    403: "The credential lacks the scope (`insufficient_scope`) or may not act on this object.",
    404: "No such object, or one you may not see (`not_found`).",
    409: "The request conflicts with the object's state, or the same Idempotency-Key is still "
    "being answered (`idempotency_in_progress`).",
    410: "The link has expired.",
    413: "The request body is larger than allowed (`payload_too_large`).",
    415: "The body's content type is not one this operation reads (`unsupported_media_type`).",
    422: "The request is well formed but cannot be honoured: the Idempotency-Key was used for "
    "a different request (`idempotency_key_reused`), an upload's inspection refused the archive "
    "(its own code), or the model offers no interface the runner executes "
    "(`unsupported_interface`).",
    429: "Rate limited (`throttled`, `too_many_attempts`); see `Retry-After`.",
    451: "The package was taken down after a copyright complaint (`package_taken_down`).",
    502: "The payment provider answered with an error (`payment_provider_error`).",
    503: "A service this operation needs is not configured or unreachable "
    "(`payments_unavailable`, `token_signing_unavailable`), or a stored file failed its "
    "integrity check (`artifact_integrity`, `artifact_key_unavailable`).",
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
BODIES = {"POST", "PUT", "PATCH"}


class FieldErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable snake_case code of this problem.")
    detail = serializers.CharField(help_text="A sentence for people.")


class ErrorSerializer(serializers.Serializer):
    """Every API error: a stable code, a sentence, and problems per field."""

    code = serializers.CharField(help_text="Stable snake_case code, e.g. `insufficient_scope`.")
    detail = serializers.CharField(help_text="A sentence for people.")
    # DRF's metaclass takes declared fields out of the class: this does not hide ``fields``.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=FieldErrorSerializer(many=True),
        help_text="Problems per field, keyed by dotted path (`runs.1`, `start_values.k`).",
    )

    class Meta:
        ref_name = "Error"


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Replays the first answer to a retry with the same key and body (24 h).",
)


class ApiAutoSchema(AutoSchema):
    def _handler(self):
        return getattr(self.view, self.method.lower(), None)

    def _is_idempotent(self) -> bool:
        return bool(getattr(self._handler(), "idempotent", False))

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self._is_idempotent():
            parameters.append(IDEMPOTENCY_KEY)
        return parameters

    # drf-spectacular's AutoSchema takes no arguments here, unlike DRF's own inspector.
    def get_description(self) -> str:  # type: ignore[override]
        description = super().get_description() or ""
        needed = requirement(self.view, self.method)
        if needed is None:
            return description
        if needed.scope is None:
            note = "Open to anyone." if needed.anonymous else "Any API key."
        else:
            note = f"Scope: `{needed.scope}`."
            if needed.anonymous:
                note += " Anonymous callers see public objects only."
        return f"{description}\n\n{note}".strip()

    def get_extensions(self):
        extensions = dict(super().get_extensions() or {})
        needed = requirement(self.view, self.method)
        if needed is not None:
            extensions["x-required-scope"] = needed.scope
            extensions["x-anonymous"] = needed.anonymous
        return extensions

    def get_auth(self):
        auths = super().get_auth()
        needed = requirement(self.view, self.method)
        if needed is not None and needed.anonymous and {} not in auths:
            auths.append({})
        return auths

    def _error_statuses(self) -> set[int]:
        view, method = self.view, self.method
        needed = requirement(view, method)
        statuses = {400}
        if view.get_authenticators():
            statuses |= {401, 403}
        elif needed is None or needed.scope is not None or not needed.anonymous:
            statuses.add(403)
        if "{" in self.path or method in WRITES or self._get_paginator() is not None:
            statuses.add(404)  # an object not found, or a page past the last
        if method in WRITES:
            statuses |= {409, 413}
        if method in BODIES:
            statuses.add(415)
        if self._is_idempotent():
            statuses.add(422)
        if view.get_throttles():
            statuses.add(429)
        extra = getattr(view, "error_statuses", ())
        if isinstance(extra, dict):
            extra = extra.get(method, ())
        return statuses | set(extra)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for status in sorted(self._error_statuses()):
            responses.setdefault(
                str(status),
                {
                    "description": ERROR_DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": error}},
                },
            )
        return responses

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        if str(status_code).startswith("2") and self._is_idempotent():
            headers["Idempotent-Replayed"] = {
                "schema": {"type": "string", "enum": ["true"]},
                "description": "Present when this is the replay of an earlier answer.",
            }
        if str(status_code) == "429":
            headers["Retry-After"] = {
                "schema": {"type": "integer"},
                "description": "Seconds to wait before trying again.",
            }
        return headers


def generate_api_schema() -> dict:
    """The OpenAPI document of the project's URL conf, as ``/api/v1/schema/`` serves it
    (whatever URL conf a test runs under)."""
    generator = SchemaGenerator(api_version="v1", urlconf="fmugateway.urls")
    return generator.get_schema(request=None, public=True)
