"""The Makefile's own tasks: help reads cleanly, clean removes VAR_DIR and nothing else."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def make(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"VAR_DIR", "MAKEFLAGS", "MAKELEVEL"}}
    return subprocess.run(
        ["make", "-s", "-f", str(REPO / "Makefile"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_the_tasks_without_make_escapes():
    result = make("help")

    assert result.returncode == 0, result.stderr
    assert "make clean" in result.stdout
    assert "make web" in result.stdout
    assert "$$" not in result.stdout


@pytest.fixture
def checkout(tmp_path):
    """A stand-in working directory with its own var/ whose contents must survive."""
    here = tmp_path / "outer" / "checkout"
    (here / "var").mkdir(parents=True)
    (here / "var" / "db.sqlite3").write_text("keep", encoding="utf-8")
    return here


def test_clean_removes_var_dir_and_leaves_var_alone(tmp_path, checkout):
    state = tmp_path / "state"
    (state / "storage").mkdir(parents=True)
    (state / "db.sqlite3").write_text("old", encoding="utf-8")

    result = make("clean", f"VAR_DIR={state}", cwd=checkout)

    assert result.returncode == 0, result.stderr
    assert not state.exists()
    assert (checkout / "var" / "db.sqlite3").read_text(encoding="utf-8") == "keep"


def test_clean_without_var_dir_removes_var(checkout):
    result = make("clean", cwd=checkout)

    assert result.returncode == 0, result.stderr
    assert not (checkout / "var").exists()
    assert checkout.exists()


@pytest.mark.parametrize("var_dir", [".", "..", "{outer}", "{checkout}/var/.."])
def test_clean_refuses_the_checkout_and_what_contains_it(checkout, var_dir):
    result = make(
        "clean", "VAR_DIR=" + var_dir.format(outer=checkout.parent, checkout=checkout), cwd=checkout
    )

    assert result.returncode != 0
    assert "refusing" in result.stderr
    assert (checkout / "var" / "db.sqlite3").read_text(encoding="utf-8") == "keep"
