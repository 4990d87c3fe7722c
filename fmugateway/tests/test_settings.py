"""Settings fail loudly: bad values and development secrets in production stop the process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from fmugateway.env import dev_secret, env_bool, env_int

REPO = Path(__file__).resolve().parents[2]


def run_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "KEY_HASH_SECRET", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    clean.update({"VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "fmugateway.settings"})
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret(tmp_path):
    result = run_check(tmp_path, DEBUG="false")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_a_development_secret(tmp_path):
    result = run_check(
        tmp_path,
        DEBUG="false",
        SECRET_KEY="dev-not-secret-at-all-but-long-enough-xx",
        KEY_HASH_SECRET="k" * 40,
    )

    assert result.returncode != 0
    assert "development secret" in result.stderr


@pytest.mark.slow
def test_debug_generates_private_development_secrets_once(tmp_path):
    first = run_check(tmp_path, DEBUG="true")
    secret = (tmp_path / "secrets" / "secret_key").read_text(encoding="utf-8")
    second = run_check(tmp_path, DEBUG="true")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "secrets" / "secret_key").read_text(encoding="utf-8") == secret
    assert (tmp_path / "secrets" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert len(secret) >= 40


def test_bad_boolean_fails_loudly(tmp_path):
    result = run_check(tmp_path, DEBUG="ture")

    assert result.returncode != 0
    assert "DEBUG='ture' is not a boolean" in result.stderr


def test_env_helpers(monkeypatch, tmp_path):
    monkeypatch.setenv("X_INT", "12_000")
    monkeypatch.setenv("X_BAD", "twelve")
    monkeypatch.setenv("X_BOOL", "Yes")
    secret_file = tmp_path / "s"
    secret_file.write_text("from-file\n")

    assert env_int("X_INT", 1) == 12000
    assert env_bool("X_BOOL") is True
    with pytest.raises(ImproperlyConfigured):
        env_int("X_BAD", 1)
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 1, minimum=20000)
    assert dev_secret(tmp_path, "k") == dev_secret(tmp_path, "k")


def test_secret_from_file(monkeypatch, tmp_path):
    from fmugateway.env import env_secret

    path = tmp_path / "secret"
    path.write_text("s3cr3t\n")
    monkeypatch.setenv("MY_SECRET_FILE", str(path))

    assert env_secret("MY_SECRET") == "s3cr3t"


def test_every_setting_read_from_the_environment_is_documented():
    import re

    from fmugateway.testing import REPO_ROOT

    source = (REPO_ROOT / "fmugateway" / "settings.py").read_text(encoding="utf-8")
    names = set(re.findall(r'(?:env_\w+|_credit_rate)\(\s*"([A-Z0-9_]+)"', source))
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")

    assert len(names) > 50
    assert sorted(name for name in names if f"`{name}`" not in readme) == []
    assert sorted(name for name in names if name not in example) == []


def settings_values(tmp_path: Path, *names: str, **env: str) -> list[str]:
    """Import the real settings module in a fresh process (embedded defaults) and print names."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "SITE_URL",
            "TOKEN_ISSUER",
            "RUN_PORT",
            "RUN_HOST",
            "LOCAL_STRIPE_PORT",
            "DJANGO_SETTINGS_MODULE",
        }
    }
    clean.update({"VAR_DIR": str(tmp_path), "DEBUG": "true"}, **env)
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'fmugateway.settings'; "
        "django.setup(); from django.conf import settings; "
        f"print('\\n'.join(str(getattr(settings, n)) for n in {list(names)!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_links_and_attestations_default_to_the_port_make_run_serves_on(tmp_path):
    # The attestation's issuer is SITE_URL, the tokens' issuer defaults to it.
    assert settings_values(tmp_path, "SITE_URL", "TOKEN_ISSUER", RUN_PORT="8123") == [
        "http://127.0.0.1:8123",
        "http://127.0.0.1:8123",
    ]
    assert settings_values(tmp_path, "SITE_URL") == ["http://127.0.0.1:8000"]
    assert settings_values(
        tmp_path, "SITE_URL", RUN_PORT="8123", SITE_URL="https://fmu.example.com/"
    ) == ["https://fmu.example.com"]


def test_the_local_stripe_server_listens_next_to_make_run(tmp_path):
    assert settings_values(tmp_path, "LOCAL_STRIPE_PORT") == ["8001"]
    assert settings_values(tmp_path, "LOCAL_STRIPE_PORT", RUN_PORT="8123") == ["8124"]
    assert settings_values(tmp_path, "LOCAL_STRIPE_PORT", LOCAL_STRIPE_PORT="9999") == ["9999"]
