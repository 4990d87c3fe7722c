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
        request.request_id = request_id  # type: ignore[attr-defined]  # ours, not Django's
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
    """Under ``/api/``: unexpected exceptions become the JSON error format, never an HTML 500,
    and a NUL character in the path or query string is refused (400) before any view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_request(request) and (refused := _nul_in_url(request)) is not None:
            return refused
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        from fmugateway.core.api import client_error, error_body

        refused = client_error(exception)
        if refused is not None:
            body = error_body(refused.code, refused.detail, refused.fields)
            return JsonResponse(body, status=refused.status_code)
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


def _nul_in_url(request: HttpRequest) -> JsonResponse | None:
    where = None
    if "\x00" in request.path:
        where = "path"
    else:
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                where = name.replace("\x00", "")
                break
    if where is None:
        return None
    return JsonResponse(
        {
            "code": "invalid",
            "detail": "Some fields are invalid; see fields for each problem.",
            "fields": {
                where: [
                    {
                        "code": "null_characters_not_allowed",
                        "detail": "Null characters are not allowed.",
                    }
                ]
            },
        },
        status=400,
    )
