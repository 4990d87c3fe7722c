"""API conventions shared by every app: the error format, pagination and the 404 fallback.

Every error under ``/api/`` is ``{"code": "<stable_snake_case>", "detail": "<sentence>",
"fields": {...}}``; ``fields`` maps a field name to a list of ``{"code", "detail"}``.
"""

from __future__ import annotations

import logging

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse, UnreadablePostError
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import set_rollback

from fmugateway.core.errors import DomainError
from fmugateway.core.parsers import PayloadTooLarge

logger = logging.getLogger(__name__)

VALIDATION_DETAIL = "Some fields are invalid; see fields for each problem."


def error_body(code: str, detail: str, fields: dict | None = None) -> dict:
    return {"code": code, "detail": detail, "fields": flat_field_errors(fields or {})}


def flat_field_errors(detail, prefix: str = "") -> dict[str, list[dict[str, str]]]:
    """Field errors keyed by dotted path (``runs.1``, ``start_values.k``), each a list of
    ``{"code", "detail"}``: one shape however deep the field sits, so clients and the schema
    need no recursion."""
    if isinstance(detail, dict):
        if set(detail) == {"code", "detail"} and all(isinstance(v, str) for v in detail.values()):
            return {prefix or "non_field_errors": [dict(detail)]}
        out: dict[str, list] = {}
        for key, value in detail.items():
            out.update(flat_field_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, (list, tuple)):
        leaves = [item for item in detail if not isinstance(item, (dict, list, tuple))]
        out = {}
        if leaves:
            out[prefix or "non_field_errors"] = [_one_error(item) for item in leaves]
        for index, item in enumerate(detail):
            if isinstance(item, dict) and set(item) == {"code", "detail"}:
                out.setdefault(prefix or "non_field_errors", []).append(dict(item))
            elif isinstance(item, (dict, list, tuple)) and item:
                out.update(flat_field_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "non_field_errors": [_one_error(detail)]}


def _one_error(item) -> dict[str, str]:
    return {"code": getattr(item, "code", None) or "invalid", "detail": str(item)}


def _validation_response(exc: exceptions.ValidationError) -> dict:
    detail = exc.detail
    if isinstance(detail, dict):
        return error_body("invalid", VALIDATION_DETAIL, detail)
    items = detail if isinstance(detail, list) else [detail]
    first = items[0] if items else exceptions.ErrorDetail("Invalid input.", "invalid")
    code = getattr(first, "code", "invalid") or "invalid"
    return error_body(code, str(first), {"non_field_errors": items})


def client_error(exc: Exception) -> DomainError | None:
    """Django's refusals of a request's body or headers, as the API's 4xx errors."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return DomainError(
            "The request has more fields or files than allowed.", code="too_many_fields"
        )
    if isinstance(exc, SuspiciousOperation):
        return DomainError("The request was refused as malformed.", code="bad_request")
    if isinstance(exc, UnreadablePostError):
        return DomainError("The request body could not be read.", code="bad_request")
    return None


def exception_handler(exc: Exception, context: dict) -> Response:
    exc = client_error(exc) or exc
    if isinstance(exc, DomainError):
        set_rollback()
        return Response(error_body(exc.code, exc.detail, exc.fields), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )

    if not isinstance(exc, exceptions.APIException):
        set_rollback()
        request = context.get("request")
        logger.exception("Unhandled API error")
        request_id = getattr(request, "request_id", "-") if request is not None else "-"
        return Response(
            error_body(
                "server_error",
                "Something went wrong on our side. The error was logged; "
                f"quote request id {request_id} to support.",
            ),
            status=500,
        )

    headers = {}
    # Set on NotAuthenticated (by DRF) and Throttled: not attributes of every APIException.
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if wait:
        headers["Retry-After"] = str(int(wait))
    set_rollback()
    if isinstance(exc, exceptions.ValidationError):
        body = _validation_response(exc)
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        body = error_body(code, str(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)


@csrf_exempt  # whatever the method: an unknown route is a 404, not a CSRF failure page
def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Fallback for unknown routes under ``/api/v1/`` (also in DEBUG, unlike handler404)."""
    path = request.path.encode("unicode_escape").decode("ascii")  # newlines shown, not sent
    return JsonResponse(error_body("not_found", f"No API endpoint at {path}."), status=404)


def handler404(request: HttpRequest, exception: Exception | None = None):
    if request.path.startswith("/api/"):
        return api_not_found(request)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler400(request: HttpRequest, exception: Exception):
    if request.path.startswith("/api/"):
        refused = client_error(exception)
        refused = refused or DomainError(
            "The request was refused as malformed.", code="bad_request"
        )
        return JsonResponse(
            error_body(refused.code, refused.detail, refused.fields), status=refused.status_code
        )
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception):
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("permission_denied", "You do not have permission to do this."), status=403
        )
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def csrf_failure(request: HttpRequest, reason: str = ""):
    """``CSRF_FAILURE_VIEW``: JSON under ``/api/`` (DRF's own views check CSRF themselves)."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("csrf_failed", f"CSRF check failed: {reason or 'no token'}."), status=403
        )
    from django.views.csrf import csrf_failure as html_csrf_failure

    return html_csrf_failure(request, reason)


def handler500(request: HttpRequest):
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("server_error", "Something went wrong on our side."), status=500
        )
    from django.views.defaults import server_error

    return server_error(request)


def validated_query(request, serializer_class) -> dict:
    """The query string's filters, checked by ``serializer_class`` (also what the schema
    documents as the operation's parameters): a bad value is 400 ``invalid`` naming it, never a
    filter silently dropped. Empty values count as absent."""
    given = {name: value for name, value in request.query_params.items() if value != ""}
    filters = serializer_class(data=given)
    filters.is_valid(raise_exception=True)
    return filters.validated_data


MAX_PAGE = 1_000_000  # beyond the last page the answer is 404 anyway


def bounded_paging_parameters(parameters: list[dict], max_page_size: int) -> list[dict]:
    """The paging query parameters, with the ranges the paginators enforce."""
    bounds = {"page": (1, MAX_PAGE), "page_size": (1, max_page_size)}
    for parameter in parameters:
        if parameter["name"] in bounds:
            low, high = bounds[parameter["name"]]
            parameter["schema"] = {"type": "integer", "minimum": low, "maximum": high}
    return parameters


def _bounded_int(request, name: str, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise exceptions.ValidationError(
            {name: [exceptions.ErrorDetail(f"A whole number from {low} to {high}.", "invalid")]}
        )
    return value


class BoundedPageSize:
    """``page_size`` outside 1..``max_page_size`` is 400 ``invalid`` (never silently cut)."""

    page_size_query_param: str | None = "page_size"
    max_page_size: int | None = 200

    def get_page_size(self, request):
        size = _bounded_int(request, self.page_size_query_param, 1, self.max_page_size)
        return self.page_size if size is None else size

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        return bounded_paging_parameters(parameters, self.max_page_size)


class Pagination(BoundedPageSize, PageNumberPagination):
    """Page numbers: ``page`` 1..``MAX_PAGE`` (400 outside; 404 past the last page)."""

    def get_page_number(self, request, paginator):
        number = _bounded_int(request, self.page_query_param, 1, MAX_PAGE)
        return 1 if number is None else number
