"""``fmugateway.core.admin.act_on_each``: the body of every app's bulk admin actions."""

from __future__ import annotations

from django.contrib import messages

from fmugateway.core.admin import act_on_each
from fmugateway.core.errors import DomainError


class RecordingAdmin:
    def __init__(self):
        self.messages = []

    def message_user(self, request, message, level):
        self.messages.append((level, message))


def test_each_object_gets_the_verb_and_refusals_are_shown_per_object():
    admin, acted = RecordingAdmin(), []

    def approve(name, moderator, *, note):
        if name == "b":
            raise DomainError("Already listed.")
        acted.append((name, moderator, note))

    act_on_each(admin, None, ["a", "b", "c"], approve, "mo", note="ok")

    assert acted == [("a", "mo", "ok"), ("c", "mo", "ok")]
    assert admin.messages == [
        (messages.ERROR, "b: Already listed."),
        (messages.SUCCESS, "2 updated."),
    ]


def test_nothing_updated_says_only_why():
    admin = RecordingAdmin()

    def refuse(name):
        raise DomainError("No.")

    act_on_each(admin, None, ["a"], refuse)

    assert admin.messages == [(messages.ERROR, "a: No.")]
