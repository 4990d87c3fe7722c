"""The Ed25519 keys that sign and verify API tokens, and their JWKS.

``TOKEN_KEYS`` is a ``fmugateway.core.signing.KeyRing``: the signing key is ``TOKEN_SIGNING_KEY``
(PEM PKCS#8, or ``TOKEN_SIGNING_KEY_FILE``), optionally encrypted with
``TOKEN_SIGNING_KEY_PASSWORD``; with ``DEBUG`` and none configured, one is generated once into
``var/secrets/token_signing_key.pem``, encrypted at rest. ``TOKEN_VERIFY_KEYS`` (PEM public keys,
concatenated) keeps tokens signed by a retired key valid until they expire.

Rotation: generate a new key, move the old key's *public* PEM into ``TOKEN_VERIFY_KEYS``, set the
new private key as ``TOKEN_SIGNING_KEY``, restart; drop the old public key after
``TOKEN_TTL_SECONDS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fmugateway.core.signing import (
    KeyRing,
    SigningUnavailable,
    b64,
    generate_private_pem,
    key_id,
    public_key_bytes,
    public_key_pem,
)

DEV_KEY_NAME = "token_signing_key.pem"

__all__ = [
    "DEV_KEY_NAME",
    "TOKEN_KEYS",
    "SigningKey",
    "TokenSigningUnavailable",
    "b64url",
    "generate_private_pem",
    "jwks",
    "key_id",
    "public_pem",
    "signing_key",
    "verification_keys",
]

b64url = b64
public_pem = public_key_pem


class TokenSigningUnavailable(SigningUnavailable):
    code = "token_signing_unavailable"
    detail = "Token signing is not configured on this server (TOKEN_SIGNING_KEY)."


TOKEN_KEYS = KeyRing(
    "TOKEN_SIGNING_KEY",
    verify_setting="TOKEN_VERIFY_KEYS",
    dev_file=DEV_KEY_NAME,
    unavailable=TokenSigningUnavailable,
)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey


def signing_key() -> SigningKey:
    """The current signing key; ``TokenSigningUnavailable`` when none is configured."""
    key = TOKEN_KEYS.private_key()
    return SigningKey(kid=key_id(key.public_key()), private_key=key)


def verification_keys() -> dict[str, Ed25519PublicKey]:
    """``kid`` → public key for every key a token may be signed with (current first)."""
    return TOKEN_KEYS.public_keys()


def jwks() -> dict:
    """The verification keys as a JSON Web Key Set (RFC 7517, OKP keys per RFC 8037)."""
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64url(public_key_bytes(key)),
                "kid": kid,
                "alg": "EdDSA",
                "use": "sig",
            }
            for kid, key in verification_keys().items()
        ]
    }
