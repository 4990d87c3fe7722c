"""Typed environment helpers that fail loudly on a bad value.

Every setting the product reads from the environment goes through these helpers, so a typo such
as ``DEBUG=ture`` stops the process at start-up instead of silently meaning something else.
A secret may also be given as ``NAME_FILE=/path`` (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value is not None else None


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no).")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}.")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}.")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None or value == "":
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}.")
    return value


def env_secret(name: str) -> str | None:
    """Read a secret from ``NAME`` or from the file named by ``NAME_FILE``."""
    path = _raw(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from None
    value = _raw(name)
    return value or None


def dev_secret(var_dir: Path, name: str, nbytes: int = 48) -> str:
    """A development secret generated once into ``var/secrets/<name>`` (mode 0600).

    Only for local, DEBUG runs: settings refuse to start production with such a secret.
    """
    directory = var_dir / "secrets"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if not path.exists():
        # Write to a private temp file, then link it into place: concurrent first starts
        # (web, worker, beat) agree on one value and nobody reads a half-written file.
        tmp = directory / f".{name}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(nbytes))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text(encoding="utf-8").strip()


_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def parse_key_ring(name: str, text: str, *, nbytes: int = 32) -> dict[str, bytes]:
    """``id:base64key`` entries (separated by commas or whitespace) as ``{id: key}``, in order.

    Every key must decode (standard or URL-safe base64, padding optional) to exactly ``nbytes``
    bytes, and ids must be unique; anything else stops the process naming ``name``.
    """
    ring: dict[str, bytes] = {}
    for entry in re.split(r"[,\s]+", text.strip()):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise ImproperlyConfigured(
                f"{name}: each entry is id:base64key with an id of letters, digits, '_', '.' "
                f"or '-' (got an entry starting {entry[:8]!r}...)."
            )
        try:
            padded = encoded + "=" * (-len(encoded) % 4)
            key = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"{name}: the key of {key_id!r} is not base64.") from None
        if len(key) != nbytes:
            raise ImproperlyConfigured(
                f"{name}: the key of {key_id!r} is {len(key)} bytes; it must be {nbytes}."
            )
        if key_id in ring:
            raise ImproperlyConfigured(f"{name}: the id {key_id!r} is given twice.")
        ring[key_id] = key
    return ring
