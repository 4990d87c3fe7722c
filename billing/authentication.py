"""DRF authentication: API keys and the short-lived tokens minted from them.

* ``X-API-Key: fmugw_live_...`` or ``Authorization: Bearer fmugw_live_...``:
  ``ApiKeyAuthentication``
* ``Authorization: Bearer <JWT>`` (anything not starting with ``fmugw_``):
  ``TokenAuthentication``

``request.auth`` is then the ``ApiKey`` or a ``TokenCredentials``; both carry ``scopes`` for
``fmugateway.core.scopes.ScopeRequired``. A presented but bad credential is a 401 with a stable code
(``api_key_malformed``, ``api_key_unknown``, ``api_key_revoked``, ``api_key_expired``,
``token_invalid``, ``token_expired``, ``account_disabled``), never a silent fallback to anonymous.
Too many failed API-key presentations from one client IP answer 429 ``too_many_attempts`` with
``Retry-After`` instead (``billing.services.key_lockout``).
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from billing.rate_limits import PrefetchedHits
from billing.services import api_keys, tokens
from fmugateway.core.middleware import client_ip

API_KEY_MARKER = "fmugw_"
WWW_AUTHENTICATE = 'Bearer realm="api"'


def _bearer(request: Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def presented_api_key(request: Request) -> str | None:
    api_key = request.META.get("HTTP_X_API_KEY")
    if api_key is not None:
        return api_key.strip()
    value = _bearer(request)
    if value is not None and value.startswith(API_KEY_MARKER):
        return value
    return None


def _reject(error: api_keys.CredentialRejected) -> exceptions.APIException:
    if isinstance(error, api_keys.TooManyAttempts):  # 429 with Retry-After, not a 401
        return exceptions.Throttled(wait=error.retry_after, detail=error.detail, code=error.code)
    return exceptions.AuthenticationFailed(detail=error.detail, code=error.code)


class _CredentialAuthentication(BaseAuthentication):
    def authenticate_header(self, request: Request) -> str:
        # Missing or refused credentials are 401 with a challenge (RFC 9110), so HTTP clients
        # know to authenticate; 403 is for a credential that may not do this.
        return WWW_AUTHENTICATE


class ApiKeyAuthentication(_CredentialAuthentication):
    """``X-API-Key`` or ``Authorization: Bearer fmugw_live_...``: HMAC + the revocation check
    (``billing.services.key_cache``), counted with the rate limit in one Redis round trip."""

    def authenticate(self, request: Request):
        raw = presented_api_key(request)
        if raw is None:
            return None
        try:
            key = api_keys.authenticate_key(
                raw, counter=PrefetchedHits(request), ip=client_ip(request)
            )
        except api_keys.CredentialRejected as error:
            raise _reject(error) from None
        return key.owner, key


class TokenAuthentication(_CredentialAuthentication):
    """``Authorization: Bearer <JWT>``: signature check plus its key's revocation check."""

    def authenticate(self, request: Request):
        if request.META.get("HTTP_X_API_KEY") is not None:
            return None
        value = _bearer(request)
        if not value or value.startswith(API_KEY_MARKER):
            return None
        try:
            credentials = tokens.authenticate_token(value, counter=PrefetchedHits(request))
        except api_keys.CredentialRejected as error:
            raise _reject(error) from None
        return credentials.api_key.owner, credentials
