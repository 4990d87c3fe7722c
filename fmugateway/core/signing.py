"""The platform's Ed25519 signing key: attestations, license files and signed answers.

The private key comes from ``PLATFORM_SIGNING_KEY`` (PEM, or ``PLATFORM_SIGNING_KEY_FILE``),
optionally encrypted with ``PLATFORM_SIGNING_KEY_PASSWORD``. In DEBUG without one, a key is
generated once into ``var/secrets/platform_signing_key.pem``, encrypted at rest with a password
derived from ``SECRET_KEY``. ``PLATFORM_VERIFY_KEYS`` (PEM public keys, separated by blank lines)
lists retired keys that signatures may still verify against after a rotation.

A signed document is ``{"payload": {...}, "alg": "Ed25519", "kid": "...", "signature": "<b64>"}``;
the signature covers the canonical JSON of the payload (sorted keys, no spaces, UTF-8).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from fmugateway.core.errors import DomainError
from fmugateway.env import env_secret

ALGORITHM = "Ed25519"


class SignatureInvalid(DomainError):
    code = "signature_invalid"
    detail = "The signature does not match the document."


def canonical_json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_key_bytes(key)).hexdigest()[:16]


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _dev_password() -> bytes:
    return hashlib.sha256(b"platform-signing-key:" + settings.SECRET_KEY.encode()).digest()


def _load_private_key(pem: bytes, password: bytes | None) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"PLATFORM_SIGNING_KEY cannot be loaded: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured("PLATFORM_SIGNING_KEY must be an Ed25519 private key.")
    return key


def _generated_dev_key() -> Ed25519PrivateKey:
    path = settings.VAR_DIR / "secrets" / "platform_signing_key.pem"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(_dev_password()),
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return _load_private_key(path.read_bytes(), _dev_password())


@functools.cache
def platform_private_key() -> Ed25519PrivateKey:
    pem = env_secret("PLATFORM_SIGNING_KEY")
    if pem:
        password = env_secret("PLATFORM_SIGNING_KEY_PASSWORD")
        return _load_private_key(pem.encode(), password.encode() if password else None)
    if not settings.DEBUG and not getattr(settings, "ALLOW_GENERATED_SIGNING_KEY", False):
        raise ImproperlyConfigured(
            "PLATFORM_SIGNING_KEY (or _FILE) must be set when DEBUG is false."
        )
    return _generated_dev_key()


@functools.cache
def platform_public_keys() -> dict[str, Ed25519PublicKey]:
    """Every key signatures may verify against: the current one first, then retired ones."""
    current = platform_private_key().public_key()
    keys = {key_id(current): current}
    for block in (env_secret("PLATFORM_VERIFY_KEYS") or "").split("\n\n"):
        if block.strip():
            retired = serialization.load_pem_public_key(block.strip().encode())
            if isinstance(retired, Ed25519PublicKey):
                keys.setdefault(key_id(retired), retired)
    return keys


def sign_document(payload: dict) -> dict:
    key = platform_private_key()
    return {
        "payload": payload,
        "alg": ALGORITHM,
        "kid": key_id(key.public_key()),
        "signature": b64(key.sign(canonical_json(payload))),
    }


def verify_document(document: Any, keys: dict[str, Ed25519PublicKey] | None = None) -> dict:
    """Return the payload of a signed document, or raise ``SignatureInvalid``."""
    keys = platform_public_keys() if keys is None else keys
    if not isinstance(document, dict) or not isinstance(document.get("payload"), dict):
        raise SignatureInvalid("The document is not a signed FMU Gateway document.")
    if document.get("alg") != ALGORITHM:
        raise SignatureInvalid("Unsupported signature algorithm.")
    key = keys.get(str(document.get("kid")))
    if key is None:
        raise SignatureInvalid("The document was signed with an unknown key.", code="unknown_key")
    try:
        key.verify(unb64(str(document.get("signature", ""))), canonical_json(document["payload"]))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureInvalid() from exc
    return document["payload"]


def public_keys_document() -> dict:
    """The published verification keys (for SDKs and offline verification)."""
    return {
        "keys": [
            {
                "kid": kid,
                "alg": ALGORITHM,
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64(public_key_bytes(key)),
                "pem": public_key_pem(key),
                "current": index == 0,
            }
            for index, (kid, key) in enumerate(platform_public_keys().items())
        ]
    }
