"""Helpers for benchmarks that drive a real gunicorn on loopback against PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench_env(database: str = "fmugw_bench", **extra: str) -> dict[str, str]:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fmugateway")
    url = base.rsplit("/", 1)[0] + f"/{database}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SETTINGS_MODULE", "fmugateway.settings"),
        "DEBUG": "true",
        "DATABASE_URL": url,
        "VAR_DIR": str(Path(os.environ.get("BENCH_VAR_DIR", "/tmp/fmugw-bench"))),
        "LOG_LEVEL": "warning",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    env.update(extra)
    return env


def ensure_database(env: dict[str, str]) -> None:
    import psycopg

    url = env["DATABASE_URL"]
    admin_url, name = url.rsplit("/", 1)
    with psycopg.connect(admin_url + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(
        {
            k: v
            for k, v in env.items()
            if k not in os.environ
            or k
            in {
                "DJANGO_SETTINGS_MODULE",
                "DEBUG",
                "DATABASE_URL",
                "VAR_DIR",
                "LOG_LEVEL",
                "ALLOWED_HOSTS",
            }
        }
    )
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, env: dict[str, str], workers: int = 1, port: int | None = None):
        self.port = port or free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "fmugateway.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                "300",
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.base}/api/v1/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def proc_status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)
