from __future__ import annotations

import logging
import re
import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse

from fmugateway.core import context

logger = logging.getLogger(__name__)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it,
    # and the deployment docs configure gunicorn's forwarded-allow-ips for that.
    return request.META.get("REMOTE_ADDR") or None


class RequestIdMiddleware:
    """Give every request an id (honouring a sane ``X-Request-ID``) for logs and the audit log."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = context.bind(context.RequestContext(request_id=request_id, ip=client_ip(request)))
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        response["X-Request-ID"] = request_id
        return response


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.current().request_id or "-"
        return True


class ApiErrorMiddleware:
    """Unexpected exceptions under ``/api/`` become the JSON error format, never an HTML 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return JsonResponse(
            {
                "code": "server_error",
                "detail": "Something went wrong on our side. The error was logged; "
                f"quote request id {getattr(request, 'request_id', '-')} to support.",
                "fields": {},
            },
            status=500,
        )
