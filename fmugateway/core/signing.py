"""Ed25519 key rings, and the platform's signed documents (attestations, license files).

A ``KeyRing`` names three settings: the private key (PEM PKCS#8, or ``<NAME>_FILE``), its
optional password, and retired public keys (PEM, concatenated) that signatures may still verify
against after a rotation. With ``DEBUG`` (or ``ALLOW_GENERATED_SIGNING_KEYS``, for tests) and no
key configured, one is generated once into ``var/secrets/`` encrypted at rest with a password
derived from ``SECRET_KEY``; in production a missing key is a 503 with a stable code and a
``check --deploy`` error. ``kid`` is the first 16 hex characters of SHA-256 of the raw key.

Two rings exist: ``PLATFORM_KEYS`` (this module: attestations, license files, signed answers)
and ``billing.token_keys.TOKEN_KEYS`` (API tokens).

A signed document is ``{"payload": {...}, "alg": "Ed25519", "kid": "...", "signature": "<b64>"}``;
the signature covers the canonical JSON of the payload (sorted keys, no spaces, UTF-8).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from fmugateway.core.errors import DomainError

ALGORITHM = "Ed25519"
_PUBLIC_PEM = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


class SignatureInvalid(DomainError):
    code = "signature_invalid"
    detail = "The signature does not match the document."


class SigningUnavailable(DomainError):
    status_code = 503
    code = "signing_unavailable"
    detail = "Signing is not configured on this server."


def canonical_json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_key_bytes(key)).hexdigest()[:16]


@functools.lru_cache(maxsize=8)
def _private_key_id(key: Ed25519PrivateKey) -> str:
    """The kid of a (cached, long-lived) private key: every signed answer names it."""
    return key_id(key.public_key())


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def generate_private_pem(password: bytes | None = None) -> str:
    """A new Ed25519 private key as PEM (for operators' key commands and tests)."""
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        .decode()
    )


@functools.cache
def _load_private(pem: bytes, password: bytes | None, setting: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{setting} cannot be loaded: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{setting} must be an Ed25519 private key.")
    return key


@functools.cache
def _load_public(pems: str, setting: str) -> tuple[Ed25519PublicKey, ...]:
    keys = []
    for block in _PUBLIC_PEM.findall(pems):
        try:
            key = serialization.load_pem_public_key(block.encode())
        except ValueError as exc:
            raise ImproperlyConfigured(f"{setting} has an unreadable key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ImproperlyConfigured(f"{setting} may only hold Ed25519 public keys.")
        keys.append(key)
    return tuple(keys)


class KeyRing:
    """One signing key (from settings, or generated for development) plus retired keys."""

    def __init__(
        self, setting: str, *, verify_setting: str, dev_file: str, unavailable: type[DomainError]
    ) -> None:
        self.setting = setting
        self.verify_setting = verify_setting
        self.dev_file = dev_file
        self.unavailable = unavailable

    def _dev_password(self) -> bytes:
        return hashlib.sha256(f"{self.setting}:".encode() + settings.SECRET_KEY.encode()).digest()

    def dev_key_path(self):
        return settings.VAR_DIR / "secrets" / self.dev_file

    def _dev_key_pem(self) -> bytes:
        path = self.dev_key_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            pem = generate_private_pem(self._dev_password()).encode()
            # Write privately, then link into place: concurrent first starts agree on one key.
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
        return path.read_bytes()

    @property
    def configured(self) -> bool:
        return bool(getattr(settings, self.setting, None))

    def private_key(self) -> Ed25519PrivateKey:
        pem = getattr(settings, self.setting, None)
        if pem:
            password = getattr(settings, f"{self.setting}_PASSWORD", None)
            return _load_private(
                pem.encode(), password.encode() if password else None, self.setting
            )
        if settings.DEBUG or getattr(settings, "ALLOW_GENERATED_SIGNING_KEYS", False):
            return _load_private(self._dev_key_pem(), self._dev_password(), self.setting)
        raise self.unavailable()

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """``kid`` → key for every key a signature may come from (the current one first)."""
        keys: dict[str, Ed25519PublicKey] = {}
        try:
            current = self.private_key().public_key()
            keys[key_id(current)] = current
        except DomainError:
            pass
        retired = getattr(settings, self.verify_setting, "") or ""
        for key in _load_public(retired, self.verify_setting):
            keys.setdefault(key_id(key), key)
        return keys


class PlatformSigningUnavailable(SigningUnavailable):
    detail = "Signing is not configured on this server (PLATFORM_SIGNING_KEY)."


PLATFORM_KEYS = KeyRing(
    "PLATFORM_SIGNING_KEY",
    verify_setting="PLATFORM_VERIFY_KEYS",
    dev_file="platform_signing_key.pem",
    unavailable=PlatformSigningUnavailable,
)


def sign_document(payload: dict) -> dict:
    key = PLATFORM_KEYS.private_key()
    return {
        "payload": payload,
        "alg": ALGORITHM,
        "kid": _private_key_id(key),
        "signature": b64(key.sign(canonical_json(payload))),
    }


def verify_document(document: Any, keys: dict[str, Ed25519PublicKey] | None = None) -> dict:
    """Return the payload of a signed document, or raise ``SignatureInvalid``."""
    keys = PLATFORM_KEYS.public_keys() if keys is None else keys
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
            for index, (kid, key) in enumerate(PLATFORM_KEYS.public_keys().items())
        ]
    }
