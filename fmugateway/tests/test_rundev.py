"""rundev hands the address it serves on to web, worker and beat."""

import subprocess
from unittest import mock

import pytest
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
