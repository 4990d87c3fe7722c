"""Receiving ``.fmu`` uploads: streamed to a temporary file, hashed and size-capped on the way."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from rest_framework.parsers import FileUploadParser

from fmugateway.core.errors import DomainError
from registry import vectors
from registry.services import ReceivedFile, TestVectorInput


class UploadTooLarge(DomainError):
    status_code = 413
    code = "upload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The upload is larger than the limit of {limit // (1024 * 1024)} MB.")


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Writes each uploaded file to a temp file (never to memory), computing its SHA-256 and
    refusing it as soon as it passes ``UPLOAD_MAX_BYTES``."""

    # Django's default 64 KiB chunks cost Python overhead per chunk on 100 MB+ FMUs.
    chunk_size = 1024 * 1024

    def __init__(self, request=None, max_bytes: int | None = None) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes if max_bytes is not None else settings.UPLOAD_MAX_BYTES

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # The multipart envelope adds a few hundred bytes; refuse obvious excess before reading.
        if content_length and content_length > self.max_bytes + 64 * 1024:
            raise UploadTooLarge(self.max_bytes)

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self._digest = hashlib.sha256()
        self._received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int):
        self._received += len(raw_data)
        if self._received > self.max_bytes:
            self.file.close()
            raise UploadTooLarge(self.max_bytes)
        self._digest.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int):
        uploaded = super().file_complete(file_size)
        uploaded.sha256 = self._digest.hexdigest()  # type: ignore[union-attr]  # ours; always a file
        return uploaded


def install_upload_handler(request) -> None:
    """Use the hashing, size-capped handler for this request (before ``request.data``)."""
    django_request = getattr(request, "_request", request)
    django_request.upload_handlers = [HashingUploadHandler(django_request)]


class RawFmuParser(FileUploadParser):
    """``Content-Type: application/octet-stream``: the request body is the ``.fmu`` itself.

    The fastest way to upload large files (no multipart envelope); the other fields come from the
    query string. The body goes through the same hashing, size-capped upload handler.
    """

    media_type = "application/octet-stream"

    def get_filename(self, stream, media_type, parser_context):
        return super().get_filename(stream, media_type, parser_context) or "upload.fmu"


def raw_upload(request):
    """The file of an ``application/octet-stream`` upload. An empty body is an empty file
    (DRF parses no body at all), so the inspection refuses it as ``not_a_zip``, as it does an
    empty multipart file, rather than as a missing field."""
    uploaded = request.data.get("file")
    if uploaded is None and not request.data:
        handler = HashingUploadHandler(getattr(request, "_request", request))
        handler.new_file("file", "upload.fmu", RawFmuParser.media_type, 0)
        uploaded = handler.file_complete(0)
    return uploaded


def received_file(upload) -> ReceivedFile:
    """The ``ReceivedFile`` of an upload that went through ``HashingUploadHandler`` (its temp
    file is encrypted into storage, never moved there)."""
    return ReceivedFile(
        path=Path(upload.temporary_file_path()),
        sha256=getattr(upload, "sha256", None),
        size=upload.size,
        original_filename=upload.name or "",
    )


def test_vectors_from(fields: dict) -> tuple[TestVectorInput, ...]:
    """The optional test vector of an upload form or request (``reference_csv`` and friends)."""
    if not fields.get("reference_csv"):
        return ()

    def given(name: str, default: float) -> float:
        value = fields.get(name)
        return default if value is None else value

    inputs = fields.get("inputs_csv")
    return (
        TestVectorInput(
            reference_path=Path(fields["reference_csv"].temporary_file_path()),
            inputs_path=Path(inputs.temporary_file_path()) if inputs else None,
            start_values=fields.get("start_values") or {},
            columns=tuple(fields.get("columns") or ()),
            rtol=given("rtol", vectors.DEFAULT_RTOL),
            atol=given("atol", vectors.DEFAULT_ATOL),
        ),
    )
