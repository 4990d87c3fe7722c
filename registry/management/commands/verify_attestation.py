import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management.base import BaseCommand, CommandError

from fmugateway.core.errors import DomainError
from fmugateway.core.signing import key_id
from registry.validation import verify_attestation


class Command(BaseCommand):
    help = "Verify an attestation JSON against an FMU file (exit status 1 when it does not hold)."

    def add_arguments(self, parser):
        parser.add_argument("fmu", type=Path)
        parser.add_argument("attestation", type=Path)
        parser.add_argument(
            "--public-key",
            type=Path,
            help="PEM public key to trust instead of this installation's keys",
        )

    def handle(self, *args, fmu: Path, attestation: Path, public_key: Path | None, **options):
        try:
            document = json.loads(attestation.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the attestation: {exc}") from exc
        keys = None
        if public_key:
            key = serialization.load_pem_public_key(public_key.read_bytes())
            if not isinstance(key, Ed25519PublicKey):  # attestations are signed with Ed25519
                raise CommandError("The public key is not an Ed25519 key.")
            keys = {key_id(key): key}
        try:
            payload = verify_attestation(fmu, document, keys=keys)
        except DomainError as exc:
            raise CommandError(f"NOT valid: {exc.detail}") from exc
        self.stdout.write(
            f"valid: {payload['package']} {payload['version']} sha256={payload['fmu_sha256']} "
            f"issued {payload['issued_at']}"
        )
