"""Client for the FMU Gateway API (standard library only; ``[verify]`` adds offline checks)."""

from fmugateway_sdk.client import FMUGatewayClient, Job
from fmugateway_sdk.errors import ApiError, JobFailed, SignatureError
from fmugateway_sdk.verify import verify_attestation, verify_signed_document

__all__ = [
    "ApiError",
    "FMUGatewayClient",
    "Job",
    "JobFailed",
    "SignatureError",
    "verify_attestation",
    "verify_signed_document",
]
__version__ = "0.1.0"
