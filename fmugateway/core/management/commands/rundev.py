"""Run the web server, a Celery worker and Celery beat together for local development, and
without Stripe keys the local Stripe-compatible test server they pay against."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from typing import IO

from django.conf import settings
from django.core.management.base import BaseCommand
from django.urls import reverse

COLOURS = {"web": "\033[36m", "worker": "\033[33m", "beat": "\033[35m"}
RESET = "\033[0m"


def child_environment(host: str, port: int) -> dict[str, str]:
    """The environment of web, worker and beat: this one with the address actually served on, so
    that without SITE_URL their links and attestations name that port (settings derive SITE_URL
    from RUN_PORT), also when --port overrides RUN_PORT."""
    return {**os.environ, "RUN_HOST": host, "RUN_PORT": str(port)}


# The test cards the local server's Checkout page knows (it shows them too).
TEST_CARDS = "4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined"
# What the local server delivers, signed, to the webhook endpoint: the events the app acts on.
LOCAL_STRIPE_EVENTS = [
    "account.updated",
    "charge.refunded",
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.deleted",
    "customer.subscription.updated",
    "invoice.payment_failed",
    "invoice.payment_succeeded",
    "payment_intent.payment_failed",
    "payment_intent.succeeded",
    "setup_intent.succeeded",
    "transfer.reversed",
]
LOCAL_STRIPE_WEBHOOK_ID = "fmugateway-dev"


def uses_local_stripe() -> bool:
    """Development without keys only: never with DEBUG off (production), never over real keys."""
    return bool(settings.DEBUG) and not settings.STRIPE_SECRET_KEY


class LocalStripe:
    """The local Stripe-compatible test server (``python -m billing.stripe.local_server``, a dev
    requirement) on loopback, its store kept under VAR_DIR: the app's database keeps the Stripe
    ids it made (customers, subscriptions, Connect accounts), so they must outlive a restart."""

    def __init__(self, port: int):
        self.port = port
        self.store = settings.VAR_DIR / "local-stripe.pickle"
        self.log_path = settings.VAR_DIR / "local-stripe.log"
        self.process: subprocess.Popen[str] | None = None
        self.base = ""
        self.webhook_secret = "whsec_" + secrets.token_hex(16)
        self._log: IO[str] | None = None

    def start(self) -> str:
        """Start it and wait until it listens; its base URL."""
        self._log = self.log_path.open("a", encoding="utf-8")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "billing.stripe.local_server",
                "--port",
                str(self.port),
                "--store",
                str(self.store),
            ],
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None  # started with stdout=PIPE
        line = self.process.stdout.readline()  # "LISTENING <port>", or "" if it exited
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError(f"the local Stripe test server did not start; see {self.log_path}")
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"
        return self.base

    def environment(self) -> dict[str, str]:
        """What points web, worker and beat at it (test-mode keys: it checks only their form)."""
        return {
            "STRIPE_SECRET_KEY": "sk_test_fmugwLocalStripeDevelopment",
            "STRIPE_PUBLISHABLE_KEY": "pk_test_fmugwLocalStripeDevelopment",
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "STRIPE_API_BASE": self.base,
            "STRIPE_JS_URL": f"{self.base}/js.stripe.com/v3/",
            "STRIPE_LIVE_MODE": "false",
        }

    def prepare(self, environment: dict[str, str], site_url: str) -> list[str]:
        """Create the products and prices the app needs and the webhook endpoint (in the app's
        database and at the server, which then signs its deliveries); the problems, if any."""
        problems = []
        for command in ("stripe_sync_products", "stripe_webhook_endpoint"):
            done = subprocess.run(
                [sys.executable, "manage.py", command],
                cwd=settings.BASE_DIR,
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                problems.append(f"{command} failed: {(done.stderr or done.stdout).strip()}")
        path = reverse(
            "djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": settings.STRIPE_WEBHOOK_UUID}
        )
        fields = [("url", f"{site_url}{path}"), ("secret", self.webhook_secret)]
        fields += [(f"events[{i}]", name) for i, name in enumerate(LOCAL_STRIPE_EVENTS)]
        request = urllib.request.Request(  # noqa: S310  # loopback, http
            f"{self.base}/_config/webhooks/{LOCAL_STRIPE_WEBHOOK_ID}",
            data=urllib.parse.urlencode(fields).encode(),
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()  # noqa: S310
        except OSError as exc:
            problems.append(f"registering the webhook failed: {exc}")
        return problems

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


class Command(BaseCommand):
    help = "Start web + Celery worker + Celery beat on the current settings; Ctrl-C stops all."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("RUN_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.RUN_PORT)
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes")

    def handle(self, *args, host: str, port: int, concurrency: int, **options):
        commands = self.child_commands(host, port, concurrency)
        environment = child_environment(host, port)
        local_stripe = self._start_local_stripe(environment, port) if uses_local_stripe() else None
        try:
            exit_code = self._run(commands, environment, host, port, local_stripe)
        finally:
            if local_stripe is not None:
                local_stripe.stop()
        sys.exit(exit_code)

    def child_commands(self, host: str, port: int, concurrency: int) -> dict[str, list[str]]:
        python = sys.executable
        return {
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

    def _start_local_stripe(self, environment: dict[str, str], port: int) -> LocalStripe | None:
        """Start the local Stripe test server and add what points at it to ``environment``;
        None (payments stay unavailable) if it cannot start, e.g. without the dev requirements."""
        local_stripe = LocalStripe(settings.LOCAL_STRIPE_PORT)
        try:
            local_stripe.start()
        except (OSError, RuntimeError) as exc:
            self.stderr.write(f"Payments unavailable: {exc}")
            return None
        environment.update(local_stripe.environment())
        return local_stripe

    def _run(
        self,
        commands: dict[str, list[str]],
        environment: dict[str, str],
        host: str,
        port: int,
        local_stripe: LocalStripe | None,
    ) -> int:
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
        if local_stripe is not None:
            # While web, worker and beat boot (it needs none of them, only the database).
            site_url = os.environ.get("SITE_URL") or f"http://127.0.0.1:{port}"
            for problem in local_stripe.prepare(environment, site_url.rstrip("/")):
                self.stderr.write(f"Local Stripe test server: {problem}")
        self._announce(base, stopping, local_stripe)
        exit_code = 0
        while not stopping.is_set():
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with status {process.returncode}; stopping.")
                    exit_code = 1
                    stopping.set()
            if local_stripe is not None and not local_stripe.running():
                self.stderr.write(f"local Stripe test server exited; see {local_stripe.log_path}")
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
        return exit_code

    def _relay(self, name: str, process: subprocess.Popen) -> None:
        colour = COLOURS.get(name, "") if sys.stdout.isatty() else ""
        reset = RESET if colour else ""
        assert process.stdout is not None  # started with stdout=PIPE
        for line in process.stdout:
            sys.stdout.write(f"{colour}{name:>6} |{reset} {line}")
            sys.stdout.flush()

    def _announce(
        self, base: str, stopping: threading.Event, local_stripe: LocalStripe | None = None
    ) -> None:
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
        if local_stripe is not None:
            lines += [
                "",
                f"Payments: TEST MODE against the local Stripe test server {local_stripe.base}",
                "  (no real money moves; its state is kept in "
                f"{local_stripe.store.name}, its log in {local_stripe.log_path.name}).",
                f"  Test cards: {TEST_CARDS}; any future expiry, any CVC.",
            ]
        elif not settings.STRIPE_SECRET_KEY:
            lines += ["", "Payments: unavailable (no STRIPE_SECRET_KEY and DEBUG off)."]
        if credentials.exists():
            lines += ["", "Demo accounts:", credentials.read_text(encoding="utf-8").rstrip()]
        lines += ["", "Press Ctrl-C to stop.", ""]
        self.stdout.write("\n".join(lines))
