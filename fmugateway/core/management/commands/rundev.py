"""Run the web server, a Celery worker and Celery beat together for local development."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand

COLOURS = {"web": "\033[36m", "worker": "\033[33m", "beat": "\033[35m"}
RESET = "\033[0m"


def child_environment(host: str, port: int) -> dict[str, str]:
    """The environment of web, worker and beat: this one with the address actually served on, so
    that without SITE_URL their links and attestations name that port (settings derive SITE_URL
    from RUN_PORT), also when --port overrides RUN_PORT."""
    return {**os.environ, "RUN_HOST": host, "RUN_PORT": str(port)}


class Command(BaseCommand):
    help = "Start web + Celery worker + Celery beat on the current settings; Ctrl-C stops all."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("RUN_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.RUN_PORT)
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes")

    def handle(self, *args, host: str, port: int, concurrency: int, **options):
        python = sys.executable
        commands = {
            "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "fmugateway",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={concurrency}",
                "-Q",
                "default,simulations,validation",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "fmugateway",
                "beat",
                "--loglevel=INFO",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        environment = child_environment(host, port)
        processes: dict[str, subprocess.Popen] = {}
        for name, command in commands.items():
            processes[name] = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,
            )
            threading.Thread(target=self._relay, args=(name, processes[name]), daemon=True).start()

        stopping = threading.Event()

        def stop(*_):
            stopping.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        base = f"http://{host}:{port}"
        self._announce(base, stopping)
        exit_code = 0
        while not stopping.is_set():
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with status {process.returncode}; stopping.")
                    exit_code = 1
                    stopping.set()
            stopping.wait(0.5)
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        sys.exit(exit_code)

    def _relay(self, name: str, process: subprocess.Popen) -> None:
        colour = COLOURS.get(name, "") if sys.stdout.isatty() else ""
        reset = RESET if colour else ""
        assert process.stdout is not None  # started with stdout=PIPE
        for line in process.stdout:
            sys.stdout.write(f"{colour}{name:>6} |{reset} {line}")
            sys.stdout.flush()

    def _announce(self, base: str, stopping: threading.Event) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stopping.is_set():
            try:
                urllib.request.urlopen(f"{base}/api/v1/", timeout=1).close()  # noqa: S310
                break
            except OSError:
                time.sleep(0.3)
        credentials = settings.VAR_DIR / "demo-credentials.txt"
        lines = [
            "",
            "FMU Gateway is running:",
            f"  storefront   {base}/",
            f"  admin        {base}/admin/",
            f"  API          {base}/api/v1/  (docs: {base}/api/v1/docs/)",
            f"  health       {base}/healthz  (the worker heartbeat shows within ~10 s)",
        ]
        if credentials.exists():
            lines += ["", "Demo accounts:", credentials.read_text(encoding="utf-8").rstrip()]
        lines += ["", "Press Ctrl-C to stop.", ""]
        self.stdout.write("\n".join(lines))
