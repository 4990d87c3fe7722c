"""Publisher signing keys and signatures over versions (Ed25519).

A creator registers a public key (or has one generated: the private key is returned once and
never stored), then signs the version's manifest — the canonical JSON of package, version and
SHA-256s — and uploads the signature. Revoking a key marks its signatures as revoked.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.db import IntegrityError, transaction
from django.utils import timezone

from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError
from fmugateway.core.signing import canonical_json, public_key_bytes, unb64
from fmugateway.core.signing import public_key_pem as pem_of
from registry.models import PackageVersion, PublisherKey, VersionSignature
from registry.services import require_owner


def _load_public_key(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError) as exc:
        raise DomainError(
            "The public key is not a PEM public key.", code="invalid_public_key"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise DomainError("Publisher keys must be Ed25519.", code="invalid_public_key")
    return key


@transaction.atomic
def register_key(owner, *, name: str, public_key_pem: str | None = None):
    """Register a key; returns ``(key, private_pem)`` where ``private_pem`` is set only when the
    server generated the pair (shown once, never stored)."""
    private_pem = None
    if public_key_pem:
        public = _load_public_key(public_key_pem)
    else:
        private = Ed25519PrivateKey.generate()
        public = private.public_key()
        private_pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    fingerprint = hashlib.sha256(public_key_bytes(public)).hexdigest()
    try:
        with transaction.atomic():
            key = PublisherKey.objects.create(
                owner=owner, name=name, public_key=pem_of(public), fingerprint=fingerprint
            )
    except IntegrityError as exc:
        raise ConflictError("This key is already registered.", code="key_exists") from exc
    record(
        "registry.signing_key.registered",
        actor=owner,
        target=key,
        after={"fingerprint": fingerprint, "generated": private_pem is not None},
    )
    return key, private_pem


def revoke_key(key: PublisherKey, user, reason: str) -> PublisherKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.revoked_reason = reason
        key.save(update_fields=["revoked_at", "revoked_reason"])
        record("registry.signing_key.revoked", actor=user, target=key, after={"reason": reason})
    return key


def manifest(version: PackageVersion) -> dict:
    return {
        "package": version.package.slug,
        "version": version.version,
        "fmu_sha256": version.sha256,
        "model_description_sha256": version.model_description_sha256,
    }


def add_signature(version: PackageVersion, key: PublisherKey, user, signature: str):
    require_owner(version.package, user)
    if key.revoked_at is not None:
        raise DomainError("This key is revoked.", code="key_revoked")
    document = manifest(version)
    try:
        _load_public_key(key.public_key).verify(unb64(signature), canonical_json(document))
    except (InvalidSignature, ValueError) as exc:
        raise DomainError(
            "The signature does not verify with this key over the manifest.",
            code="signature_invalid",
        ) from exc
    try:
        with transaction.atomic():
            row = VersionSignature.objects.create(
                version=version, key=key, manifest=document, signature=signature
            )
    except IntegrityError as exc:
        raise ConflictError("This key already signed this version.", code="already_signed") from exc
    record("registry.version.signed", actor=user, target=version, after={"key": key.fingerprint})
    return row


def describe(signature: VersionSignature) -> dict:
    return {
        "key_id": signature.key_id,
        "key_name": signature.key.name,
        "fingerprint": signature.key.fingerprint,
        "signature": signature.signature,
        "status": "revoked" if signature.key.revoked_at else "valid",
        "created_at": signature.created_at.isoformat(),
    }
