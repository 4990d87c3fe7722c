"""Print a new Ed25519 token signing key (for TOKEN_SIGNING_KEY) and its public half."""

import getpass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management.base import BaseCommand

from billing import token_keys


class Command(BaseCommand):
    help = (
        "Generate an Ed25519 private key for TOKEN_SIGNING_KEY (PEM, optionally encrypted) and "
        "print its public key (for TOKEN_VERIFY_KEYS after the next rotation) and kid."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--encrypt", action="store_true", help="ask for a password and encrypt the PEM"
        )

    def handle(self, *args, encrypt: bool = False, **options):
        password = getpass.getpass("Password: ").encode() if encrypt else None
        pem = token_keys.generate_private_pem(password)
        key = serialization.load_pem_private_key(pem.encode(), password=password)
        assert isinstance(key, Ed25519PrivateKey)  # generate_private_pem makes Ed25519 keys
        public = key.public_key()
        self.stdout.write(pem)
        self.stdout.write(token_keys.public_pem(public))
        self.stdout.write(f"kid: {token_keys.key_id(public)}\n")
