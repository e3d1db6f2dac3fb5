"""Multipart upload handling that enforces the upload size limit while the body streams in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler

from rawproc.api.errors import FileTooLarge


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    """Spool uploads to a temporary file and stop as soon as a file passes the limit.

    The view refuses a declared ``Content-Length`` over the limit before reading the body;
    this catches chunked bodies and lying lengths.
    """

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self._received += len(raw_data)
        if self._received > settings.RAWPROC_MAX_UPLOAD_BYTES:
            self.file.close()
            raise FileTooLarge()
        return super().receive_data_chunk(raw_data, start)
