"""rundev hands the address it serves on to web, worker and beat, and without Stripe keys in
development runs the local Stripe test server they pay against."""

import io
import json
import socket
import subprocess
import sys
import threading
from unittest import mock

import pytest
import requests
from django.core.management import call_command

from fmugateway.core.management.commands import rundev


class ExitedProcess:
    """A child that has already stopped: rundev's supervision loop ends at once."""

    def __init__(self, *args, **kwargs):
        self.pid = 0
        self.returncode = 1
        self.stdout = iter(())

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        return self.returncode


def test_children_get_the_port_served_on(monkeypatch):
    monkeypatch.setenv("RUN_PORT", "8000")
    popen = mock.Mock(side_effect=ExitedProcess)
    with (
        mock.patch.object(subprocess, "Popen", popen),
        mock.patch.object(rundev.signal, "signal"),
        mock.patch.object(rundev.Command, "_announce"),
        pytest.raises(SystemExit),
    ):
        call_command("rundev", "--port", "8123", "--host", "127.0.0.1")

    assert popen.call_count == 3
    for call in popen.call_args_list:
        assert call.kwargs["env"]["RUN_PORT"] == "8123"
        assert call.kwargs["env"]["RUN_HOST"] == "127.0.0.1"
    web = popen.call_args_list[0].args[0]
    assert web[-2:] == ["127.0.0.1:8123", "--noreload"]


def test_default_port_comes_from_settings(settings):
    settings.RUN_PORT = 8124
    parser = rundev.Command().create_parser("manage.py", "rundev")

    assert parser.parse_args([]).port == 8124


# --- the local Stripe test server: started and stopped by rundev, only without keys ----------
# The children are stand-ins that record what they were given and whether the local server
# answered, then exit (which ends rundev as a crashed child would); the server, the setup
# commands and the database are real.
CHILD = r"""
import json, os, sys, time, urllib.error, urllib.request
port = int(sys.argv[2])
seen = {name: os.environ.get(name) for name in (
    "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_API_BASE", "STRIPE_JS_URL",
    "STRIPE_WEBHOOK_SECRET")}
try:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/account")
    request.add_header("Authorization", "Bearer sk_test_probe")
    seen["account"] = json.load(urllib.request.urlopen(request, timeout=5))["id"]
    # rundev makes the Pro price while its children boot: wait for it.
    deadline = time.monotonic() + 90
    while "pro_price" not in seen and time.monotonic() < deadline:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/prices/fmugw-pro-monthly")
        request.add_header("Authorization", "Bearer sk_test_probe")
        try:
            seen["pro_price"] = json.load(urllib.request.urlopen(request, timeout=5))["unit_amount"]
        except urllib.error.HTTPError:
            time.sleep(0.5)
except OSError:
    seen.setdefault("account", None)
open(sys.argv[1], "w", encoding="utf-8").write(json.dumps(seen))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def rundev_children(settings, tmp_path, monkeypatch, transactional_db):
    """rundev with one stand-in child; the setup commands it runs use this test's database."""
    from django.db import connection

    db = connection.settings_dict
    monkeypatch.setenv(
        "DATABASE_URL", f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    monkeypatch.delenv("SITE_URL", raising=False)
    settings.VAR_DIR = tmp_path
    settings.LOCAL_STRIPE_PORT = _free_port()
    record = tmp_path / "child.json"
    child = [sys.executable, "-c", CHILD, str(record), str(settings.LOCAL_STRIPE_PORT)]
    monkeypatch.setattr(rundev.Command, "child_commands", lambda *a: {"web": child})
    monkeypatch.setattr(rundev.Command, "_announce", lambda *a: None)

    def run() -> dict:
        with pytest.raises(SystemExit):
            call_command("rundev", "--port", str(_free_port()))
        return json.loads(record.read_text(encoding="utf-8"))

    return run


def test_without_keys_in_debug_rundev_runs_the_local_stripe_server(settings, rundev_children):
    from djstripe.models import WebhookEndpoint

    settings.DEBUG = True
    settings.STRIPE_SECRET_KEY = ""

    seen = rundev_children()

    port = settings.LOCAL_STRIPE_PORT
    assert seen["account"], "the children could not reach the local server"
    assert seen.get("pro_price", 0) > 0  # stripe_sync_products made the Pro price there
    assert seen["STRIPE_SECRET_KEY"].startswith("sk_test_")
    assert seen["STRIPE_PUBLISHABLE_KEY"].startswith("pk_test_")
    assert seen["STRIPE_API_BASE"] == f"http://127.0.0.1:{port}"
    assert seen["STRIPE_JS_URL"] == f"http://127.0.0.1:{port}/js.stripe.com/v3/"
    # Webhooks arrive signed: the endpoint row has the secret the server signs with.
    endpoint = WebhookEndpoint.objects.get(djstripe_uuid=settings.STRIPE_WEBHOOK_UUID)
    assert endpoint.secret == seen["STRIPE_WEBHOOK_SECRET"]
    assert not _listens(port), "rundev left the local Stripe server running"
    assert (settings.VAR_DIR / "local-stripe.pickle").exists()


@pytest.mark.parametrize(("debug", "key"), [(True, "sk_test_somebodys_real_key"), (False, "")])
def test_with_keys_or_in_production_there_is_no_local_stripe_server(
    settings, rundev_children, debug, key
):
    settings.DEBUG = debug
    settings.STRIPE_SECRET_KEY = key

    seen = rundev_children()

    assert seen["account"] is None
    assert seen["STRIPE_API_BASE"] is None or "127.0.0.1" not in seen["STRIPE_API_BASE"]


def test_the_local_stripe_store_survives_a_restart(settings, tmp_path):
    """The app's database keeps the Stripe ids it made: after a restart they still exist."""
    settings.VAR_DIR = tmp_path
    auth = {"Authorization": "Bearer sk_test_fmugwLocalStripeDevelopment"}
    first = rundev.LocalStripe(0)
    base = first.start()
    try:
        customer = requests.post(
            f"{base}/v1/customers", data={"email": "b@example.com"}, headers=auth, timeout=10
        ).json()["id"]
    finally:
        first.stop()
    second = rundev.LocalStripe(0)
    base = second.start()
    try:
        response = requests.get(f"{base}/v1/customers/{customer}", headers=auth, timeout=10)
    finally:
        second.stop()

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "b@example.com"


def test_an_unreadable_store_is_set_aside_and_the_server_starts_empty(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    (tmp_path / "local-stripe.pickle").write_bytes(b"not a pickle")
    server = rundev.LocalStripe(0)
    base = server.start()
    try:
        response = requests.get(f"{base}/v1/account", auth=("sk_test_x", ""), timeout=10)
    finally:
        server.stop()

    assert response.status_code == 200
    assert (tmp_path / "local-stripe.pickle.unreadable").read_bytes() == b"not a pickle"


def test_the_banner_says_payments_are_in_test_mode_with_the_test_cards(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    server = rundev.LocalStripe(0)
    server.base = "http://127.0.0.1:8001"
    stopped = threading.Event()
    stopped.set()  # nothing to wait for
    out = io.StringIO()

    rundev.Command(stdout=out)._announce("http://127.0.0.1:8000", stopped, server)

    banner = out.getvalue()
    assert "TEST MODE against the local Stripe test server http://127.0.0.1:8001" in banner
    assert "4242 4242 4242 4242 succeeds" in banner
    assert "4000 0000 0000 0002 is declined" in banner
