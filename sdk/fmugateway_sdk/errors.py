from __future__ import annotations


class ApiError(Exception):
    """An error answer of the API: HTTP status plus the stable ``code`` and ``detail``."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        fields: dict | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.fields = fields or {}
        self.retry_after = retry_after
        super().__init__(f"{status} {code}: {detail}")


class JobFailed(Exception):
    """A simulation job ended as failed, timed out or cancelled."""

    def __init__(self, job: dict) -> None:
        self.job = job
        super().__init__(
            f"job {job.get('id')} {job.get('status')}: {job.get('error_code')} "
            f"{job.get('error_message', '')}".strip()
        )


class SignatureError(Exception):
    """A signed document (attestation, license file, verify answer) did not verify."""
