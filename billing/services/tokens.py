"""Short-lived API tokens: compact JWS (RFC 7515/7519), ``alg: EdDSA`` (Ed25519, RFC 8037).

``POST /api/v1/auth/token`` exchanges an API key for a token valid ``TOKEN_TTL_SECONDS``. Claims:

| claim | meaning |
|---|---|
| ``iss`` / ``aud`` | ``TOKEN_ISSUER`` / ``"fmugateway-api"`` |
| ``sub`` | the account id (the user's id, as a string) |
| ``akid`` | public id of the API key it was minted from; checked on every use (revocation) |
| ``scopes`` | the key's scopes (or a requested subset) |
| ``plan`` / ``credits`` | plan code and credit balance when minted (a snapshot, informational) |
| ``iat`` / ``exp`` / ``jti`` | issued at, expiry (Unix seconds), unique id |

Verification: three base64url segments, header ``alg`` must be ``EdDSA`` (nothing else is ever
accepted, including ``none``), ``kid`` must name a key in
``billing.token_keys.verification_keys()``, then the signature, then ``exp`` (→
``token_expired``), ``iss`` and ``aud``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from django.conf import settings

from billing import token_keys
from billing.models import ApiKey
from billing.services import key_cache, plans
from billing.services.api_keys import CredentialRejected, KeyUnknown, check_usable, usable_key
from fmugateway.core.errors import DomainError

AUDIENCE = "fmugateway-api"
ALGORITHM = "EdDSA"
MAX_TOKEN_LENGTH = 4096
LEEWAY_SECONDS = 30
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


class TokenInvalid(CredentialRejected):
    code = "token_invalid"
    detail = "The token is malformed or its signature does not verify."


class TokenExpired(CredentialRejected):
    code = "token_expired"
    detail = "The token has expired; exchange your API key for a new one."


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: int
    claims: dict[str, Any]


@dataclass(frozen=True)
class TokenCredentials:
    """What ``request.auth`` holds for a token-authenticated request."""

    claims: dict[str, Any]
    api_key: ApiKey
    scopes: frozenset[str] = field(default_factory=frozenset)


def _json_segment(payload: dict[str, Any]) -> str:
    return token_keys.b64url(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())


def _unsegment(segment: str) -> bytes:
    if not _SEGMENT.match(segment):
        raise TokenInvalid()
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenInvalid() from None


def _json_object(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_unsegment(segment))
    except ValueError:
        raise TokenInvalid() from None
    if not isinstance(value, dict):
        raise TokenInvalid()
    return value


def encode(claims: dict[str, Any], key: token_keys.SigningKey | None = None) -> str:
    key = key or token_keys.signing_key()
    header = {"alg": ALGORITHM, "typ": "JWT", "kid": key.kid}
    signing_input = f"{_json_segment(header)}.{_json_segment(claims)}"
    signature = key.private_key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{token_keys.b64url(signature)}"


def decode(token: str, *, now: float | None = None) -> dict[str, Any]:
    """The verified claims of ``token``; raises ``TokenInvalid`` or ``TokenExpired``."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise TokenInvalid()
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = _json_object(header_b64)
    if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
        raise TokenInvalid()
    public_key = token_keys.verification_keys().get(header["kid"])
    if public_key is None:
        raise TokenInvalid()
    try:
        public_key.verify(_unsegment(signature_b64), f"{header_b64}.{payload_b64}".encode("ascii"))
    except InvalidSignature:
        raise TokenInvalid() from None
    claims = _json_object(payload_b64)
    now = time.time() if now is None else now
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise TokenInvalid()
    if exp + LEEWAY_SECONDS <= now:
        raise TokenExpired()
    iat = claims.get("iat")
    if not isinstance(iat, int) or iat - LEEWAY_SECONDS > now:
        raise TokenInvalid()
    if claims.get("iss") != settings.TOKEN_ISSUER or claims.get("aud") != AUDIENCE:
        raise TokenInvalid()
    if not isinstance(claims.get("akid"), str) or not isinstance(claims.get("scopes"), list):
        raise TokenInvalid()
    return claims


def mint_token(
    api_key: ApiKey, *, scopes: Collection[str] | None = None, now: float | None = None
) -> IssuedToken:
    """A signed token for the owner of a usable ``api_key``.

    Guarantees: a revoked or expired key cannot mint (``api_key_revoked``/``api_key_expired``);
    the token's scopes are the key's, or the requested subset (``insufficient_scope`` otherwise).
    """
    from billing.services.credits import balance_of

    check_usable(api_key)
    key_scopes = api_key.scope_set
    if scopes:
        requested = set(scopes)
        if not requested <= key_scopes:
            raise DomainError(
                "A token cannot have scopes its API key lacks.",
                code="insufficient_scope",
                status_code=403,
            )
        key_scopes = frozenset(requested)
    user = api_key.owner
    issued = int(time.time() if now is None else now)
    expires = issued + settings.TOKEN_TTL_SECONDS
    claims = {
        "iss": settings.TOKEN_ISSUER,
        "aud": AUDIENCE,
        "sub": str(user.pk),
        "akid": api_key.public_id,
        "scopes": sorted(key_scopes),
        "plan": plans.plan_for(user).code,
        "credits": balance_of(user),
        "iat": issued,
        "exp": expires,
        "jti": secrets.token_urlsafe(12),
    }
    return IssuedToken(token=encode(claims), expires_at=expires, claims=claims)


def authenticate_token(
    token: str, *, counter: key_cache.HitCounter | None = None
) -> TokenCredentials:
    """Verify ``token`` and that its API key is still usable (the key's revocation check is
    served like an API key's: ``keys.usable_key``; ``counter`` is counted in its round trip).

    Raises ``TokenInvalid``, ``TokenExpired``, ``KeyRevoked``, ``KeyExpired``, ``AccountDisabled``.
    """
    claims = decode(token)
    try:
        key = usable_key(claims["akid"], counter=counter)
    except KeyUnknown:
        raise TokenInvalid() from None
    if str(key.owner_id) != claims.get("sub"):
        raise TokenInvalid()
    # Key scopes never change; intersecting anyway means a token can never exceed its key.
    scopes = frozenset(claims["scopes"]) & key.scope_set
    return TokenCredentials(claims=claims, api_key=key, scopes=scopes)
