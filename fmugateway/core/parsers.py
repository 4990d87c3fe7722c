"""The API's request body parsers: bounded, strict, and free of NUL characters.

One code path for hostile bodies, whatever the view:

* a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (files aside) is 413 ``payload_too_large``;
* JSON that does not parse, or nests deeper than ``MAX_JSON_DEPTH``, is 400 ``malformed_json``;
* a NUL character in any string (key or value, JSON or form field) is 400 ``invalid`` naming the
  field: PostgreSQL cannot store it, and no text the API takes needs one.
"""

from __future__ import annotations

import codecs
import json

from django.conf import settings
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.settings import api_settings

from fmugateway.core.errors import DomainError

MAX_JSON_DEPTH = 64
NUL = "\x00"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"

    def __init__(self, limit: int | None = None) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE if limit is None else limit
        super().__init__(f"The request body is larger than the {limit} bytes allowed here.")


class MalformedJson(DomainError):
    status_code = 400
    code = "malformed_json"


def _nul_error(path: str) -> DomainError:
    return DomainError(
        "Some fields are invalid; see fields for each problem.",
        code="invalid",
        fields={
            path or "non_field_errors": [
                {
                    "code": "null_characters_not_allowed",
                    "detail": "Null characters are not allowed.",
                }
            ]
        },
    )


def check_depth_and_text(data, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Walk parsed JSON without recursion: refuse deep nesting and NUL characters."""
    stack = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                raise _nul_error(path)
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > max_depth:
            raise MalformedJson(f"The JSON nests deeper than {max_depth} levels.")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and NUL in key:
                raise _nul_error(path)
            child = f"{path}.{key}" if path else str(key)
            stack.append((item, child, depth + 1))


def check_form_text(data: QueryDict) -> None:
    for key, values in data.lists():
        if NUL in key:
            raise _nul_error("non_field_errors")
        for value in values:
            if isinstance(value, str) and NUL in value:
                raise _nul_error(key)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise PayloadTooLarge(limit)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(raw, encoding)
            constant = _reject_constant if api_settings.STRICT_JSON else None
            data = json.loads(text, parse_constant=constant)
        except RecursionError:
            raise MalformedJson(f"The JSON nests deeper than {MAX_JSON_DEPTH} levels.") from None
        except (ValueError, LookupError) as exc:  # UnicodeDecodeError is a ValueError
            raise MalformedJson(f"The body is not valid JSON: {exc}") from None
        check_depth_and_text(data)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        check_form_text(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        check_form_text(parsed.data)
        return parsed
