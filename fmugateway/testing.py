"""Test helpers shared by the apps' test suites (pure Python, no Django import).

The real third-party FMUs used by the tests live outside the repository, in
``../shared/fmus`` relative to the repository root (see its README.md). They are not
copied into the repository, so a developer checkout may not have them:

* locally the tests that need them are *skipped* with a clear reason;
* in CI (environment variable ``CI=true``) a missing folder is a *failure*, so a
  misconfigured pipeline cannot silently turn the real-FMU tests into no-ops.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Repository root (this file is ``<root>/fmugateway/testing.py``).
REPO_ROOT = Path(__file__).resolve().parents[1]

#: Overrides the location of the shared FMUs (useful on CI runners with another layout).
SHARED_FMUS_ENV = "FMU_GATEWAY_SHARED_FMUS"


def shared_fmus_dir() -> Path:
    """Return the folder holding the shared real-world FMUs (it may not exist)."""
    override = os.environ.get(SHARED_FMUS_ENV)
    if override:
        return Path(override)
    return REPO_ROOT.parent / "shared" / "fmus"


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_shared_fmus() -> Path:
    """Return :func:`shared_fmus_dir` or skip (fail under ``CI=true``) when it is absent.

    Call it at the start of a test or from a fixture::

        @pytest.fixture
        def fmus_dir() -> Path:
            return require_shared_fmus()
    """
    folder = shared_fmus_dir()
    if folder.is_dir():
        return folder
    reason = (
        f"shared FMUs folder {folder} is absent (expected ../shared/fmus next to the "
        f"repository, or set {SHARED_FMUS_ENV})"
    )
    if running_in_ci():
        pytest.fail(f"{reason}; CI=true so this is an error, not a skip", pytrace=False)
    pytest.skip(reason)


def shared_fmu(relative: str) -> Path:
    """Path of one shared FMU, e.g. ``shared_fmu("Dymola/2016/pump/pump.fmu")``.

    Skips (or fails under CI) when the folder or that file is absent.
    """
    path = require_shared_fmus() / relative
    if not path.is_file():
        reason = f"shared FMU {path} is absent"
        if running_in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


def list_shared_fmus() -> list[str]:
    """Relative paths (posix) of every ``*.fmu`` in the shared folder, sorted.

    Meant for ``pytest.mark.parametrize`` at collection time: returns ``[]`` when the
    folder is absent, so pair it with a test that calls :func:`require_shared_fmus`.
    """
    folder = shared_fmus_dir()
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.fmu"))
