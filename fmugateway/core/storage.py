"""Helpers for the named storages every app uses (``STORAGES["artifacts"]``, ``"results"``...)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def local_copy(storage_name: str, key: str, suffix: str) -> Iterator[Path]:
    """The stored file as a local path (S3 objects are downloaded to a temp file)."""
    from django.core.files.storage import storages

    storage = storages[storage_name]
    try:
        yield Path(storage.path(key))
        return
    except NotImplementedError:
        pass
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle, storage.open(key, "rb") as source:
        shutil.copyfileobj(source, handle, 1024 * 1024)
        handle.flush()
        yield Path(handle.name)
