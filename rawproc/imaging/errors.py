"""Typed errors raised by the imaging engine.

Each error carries a stable ``code`` (used by the API, the workers and the CLI) and
a human-readable message that names the file, so a user can tell which upload failed
and why without reading a traceback.
"""

from __future__ import annotations

from typing import Any


class ImagingError(Exception):
    """Base class: a file the engine cannot turn into metadata and renditions."""

    code = "imaging_error"

    def __init__(self, filename: str, reason: str) -> None:
        self.filename = filename
        self.reason = reason
        # The file's metadata record when its container could be read: a file that cannot
        # be rendered still tells what it is (camera, lens, exposure, date).
        self.metadata: dict[str, Any] | None = None
        super().__init__(f"{filename}: {reason}")


class UnsupportedFormat(ImagingError):
    """The bytes are not a camera RAW file (empty, JPEG, text, random data...)."""

    code = "unsupported_format"


class CorruptFile(ImagingError):
    """A RAW container was recognised but it is truncated or garbled beyond use."""

    code = "corrupt_file"


class ImageTooLarge(ImagingError):
    """The declared pixel count exceeds the configured limit (decompression bomb guard)."""

    code = "image_too_large"
