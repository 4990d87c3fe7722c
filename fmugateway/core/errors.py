"""Domain errors: what services raise when a request cannot be honoured.

Each carries a stable snake_case ``code`` and a human ``detail``; the API's exception handler
turns them into the JSON error format and pages show the detail as a message.
"""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    code = "invalid_request"
    detail = "The request cannot be processed."

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        fields: dict | None = None,
        status_code: int | None = None,
    ) -> None:
        if detail is not None:
            self.detail = detail
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.fields = fields or {}
        super().__init__(self.detail)


class NotFoundError(DomainError):
    status_code = 404
    code = "not_found"
    detail = "Not found."


class ForbiddenError(DomainError):
    status_code = 403
    code = "permission_denied"
    detail = "You do not have permission to perform this action."


class ConflictError(DomainError):
    status_code = 409
    code = "conflict"
    detail = "The request conflicts with the current state."
