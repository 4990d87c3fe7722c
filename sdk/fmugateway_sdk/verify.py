"""Offline verification of documents signed by FMU Gateway's platform key (Ed25519).

A signed document is ``{"payload": {...}, "alg": "Ed25519", "kid": "...", "signature": "..."}``
over the canonical JSON of the payload. Public keys come from ``GET /api/v1/platform-keys``
(save that JSON once; no network is needed afterwards).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from fmugateway_sdk.errors import SignatureError


def canonical_json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_keys(keys: dict | list) -> dict[str, Any]:
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SignatureError("Install fmugateway-sdk[verify] for offline verification.") from exc
    entries = keys.get("keys", []) if isinstance(keys, dict) else keys
    return {
        entry["kid"]: Ed25519PublicKey.from_public_bytes(_unb64(entry["x"])) for entry in entries
    }


def verify_signed_document(document: dict, keys: dict | list) -> dict:
    """Return the payload when the signature holds for one of ``keys``; else raise."""
    from cryptography.exceptions import InvalidSignature

    if not isinstance(document, dict) or not isinstance(document.get("payload"), dict):
        raise SignatureError("not a signed FMU Gateway document")
    if document.get("alg") != "Ed25519":
        raise SignatureError("unsupported signature algorithm")
    key = _public_keys(keys).get(str(document.get("kid")))
    if key is None:
        raise SignatureError("signed with an unknown key")
    try:
        key.verify(_unb64(str(document.get("signature", ""))), canonical_json(document["payload"]))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("signature does not match") from exc
    return document["payload"]


def verify_attestation(fmu_path: str | Path, attestation: dict, keys: dict | list) -> dict:
    """Check that ``attestation`` is genuine and is about exactly this FMU file."""
    payload = verify_signed_document(attestation, keys)
    if payload.get("type") != "fmugateway.attestation/v1":
        raise SignatureError("not an attestation")
    digest = hashlib.sha256()
    with open(fmu_path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != payload.get("fmu_sha256"):
        raise SignatureError("the FMU file differs from the attested one")
    return payload
