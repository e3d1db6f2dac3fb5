"""Multipart upload handling that enforces the upload size limit while the body streams in,
and hashes the file on the way, so it is never read back just to be hashed."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler

from rawproc.api.errors import FileTooLarge


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    """Spool uploads to a temporary file, hashing them, and stop as soon as a file passes
    the limit.

    The view refuses a declared ``Content-Length`` over the limit before reading the body;
    this catches chunked bodies and lying lengths. The finished file carries its sha256
    (``sha256`` attribute, read by ``rawproc.services.assets.upload_sha256``).
    """

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._received = 0
        self._digest = hashlib.sha256()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self._received += len(raw_data)
        if self._received > settings.RAWPROC_MAX_UPLOAD_BYTES:
            self.file.close()
            raise FileTooLarge()
        self._digest.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int) -> UploadedFile | None:
        self.file.sha256 = self._digest.hexdigest()  # type: ignore[attr-defined]
        return super().file_complete(file_size)
