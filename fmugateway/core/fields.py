from __future__ import annotations

from rest_framework import serializers

MAX_ID = 2**63 - 1  # primary keys are 64-bit


class BlankAsNullURLField(serializers.URLField):
    """A URL that may be unset: answered as null rather than "" (which is no URI)."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value):
        return value or None


class StrictCharField(serializers.CharField):
    """Text that must arrive as a JSON string (numbers, lists and objects are refused)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
