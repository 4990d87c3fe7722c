"""License keys: generation, normalisation and the keyed hash that is all we store.

A key reads ``FMUL-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX``: a visible prefix and 24 characters of
Crockford base32 (120 random bits). People retype keys, so parsing ignores case, spaces and
dashes and maps the look-alikes ``O→0`` and ``I/L→1``. The database keeps only
``HMAC-SHA256(KEY_HASH_SECRET, canonical key)`` (unique, indexed): verifying a key is one hash and
one indexed lookup. Not a password hasher: 120 random bits need no key stretching, and a slow
hash would cost ~200 ms per verification.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings

PREFIX = "FMUL"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
BODY_LENGTH = 24  # x 5 bits = 120 bits of randomness
GROUP = 4
_TRANSLATE = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
_ALPHABET_SET = frozenset(ALPHABET)


def generate_key() -> str:
    """A new random key, formatted for display."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    groups = [body[index : index + GROUP] for index in range(0, BODY_LENGTH, GROUP)]
    return "-".join([PREFIX, *groups])


def canonical_key(raw: str) -> str | None:
    """``FMUL`` + the 24 body characters, or ``None`` when ``raw`` cannot be a key."""
    if not isinstance(raw, str) or len(raw) > 80:
        return None
    text = raw.strip().upper()
    if not text.startswith(PREFIX):
        return None
    body = text[len(PREFIX) :].translate(_TRANSLATE)
    if len(body) != BODY_LENGTH or not _ALPHABET_SET.issuperset(body):
        return None
    return PREFIX + body


def hash_key(raw: str) -> str | None:
    """The stored HMAC of a presented key (hex), or ``None`` for a malformed key."""
    canonical = canonical_key(raw)
    if canonical is None:
        return None
    return hmac.new(
        settings.KEY_HASH_SECRET.encode(), canonical.encode(), hashlib.sha256
    ).hexdigest()


def key_hint(raw: str) -> str:
    """What lists show so people recognise a key: the prefix and the last group."""
    canonical = canonical_key(raw) or ""
    return f"{PREFIX}-…-{canonical[-GROUP:]}"
