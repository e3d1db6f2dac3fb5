"""Typed errors and warnings of the imaging engine.

Each error carries a stable ``code`` (used by the API, the workers and the CLI), a
``message`` for people (one sentence, no exception names or library words) and a
technical ``detail`` for logs and support. ``str(error)`` names the file as well, for logs.

A warning (``EngineWarning``) says why a result is less than it could be, with the same
three parts; the codes are below. ``SensorDataUnusable`` is the one error the engine
recovers from itself, by rendering from the embedded preview: it turns into a warning then,
and is raised as it is when the file holds no usable preview, or when a 16-bit TIFF
(``tiff16``) was asked for, which is made from the sensor data only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Warning codes: stable, documented in docs/api.md and docs/engine.md.
SENSOR_DATA_CUT_OFF = "sensor_data_cut_off"
SENSOR_DATA_UNREADABLE = "sensor_data_unreadable"
SENSOR_DATA_MISSING = "sensor_data_missing"
SENSOR_DATA_GARBAGE = "sensor_data_garbage"
PREVIEW_ASPECT_MISMATCH = "preview_aspect_mismatch"
DNG_OPCODES_SKIPPED = "dng_opcodes_skipped"

# What went wrong with the sensor data, said to a person (completed by what was done).
_SENSOR_CAUSES = {
    SENSOR_DATA_CUT_OFF: "The file is incomplete",
    SENSOR_DATA_UNREADABLE: "The image data in the file cannot be read",
    SENSOR_DATA_MISSING: "The file holds no image data",
    SENSOR_DATA_GARBAGE: "The image data in the file is garbled",
}


@dataclass(frozen=True)
class EngineWarning:
    """Why a result is degraded or less than it could be."""

    code: str
    message: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "detail": self.detail}


class ImagingError(Exception):
    """Base class: a file the engine cannot turn into metadata and renditions."""

    code = "imaging_error"

    def __init__(self, filename: str, message: str, detail: str = "") -> None:
        self.filename = filename
        self.message = message
        self.detail = detail
        # The file's metadata record when its container could be read: a file that cannot
        # be rendered still tells what it is (camera, lens, exposure, date).
        self.metadata: dict[str, Any] | None = None
        super().__init__(f"{filename}: {message}")


class UnsupportedFormat(ImagingError):
    """The bytes are not a camera RAW file (empty, JPEG, text, random data...)."""

    code = "unsupported_format"


class CorruptFile(ImagingError):
    """A RAW container was recognised but it is truncated or garbled beyond use."""

    code = "corrupt_file"


class SensorDataUnusable(CorruptFile):
    """The sensor data gives no picture; ``problem`` is one of the ``SENSOR_DATA_*`` codes."""

    def __init__(
        self, filename: str, problem: str, detail: str = "", *, master: bool = False
    ) -> None:
        self.problem = problem
        cause = _SENSOR_CAUSES[problem]
        if master:  # a 16-bit TIFF was asked for: it is never made from the 8-bit preview
            message = (
                f"{cause}, so no 16-bit TIFF can be made from it; the camera's 8-bit preview "
                "can still give JPEG, WebP or AVIF renditions."
            )
        else:
            message = f"{cause}, and the file holds no usable preview to show instead."
        super().__init__(filename, message, detail)

    def warning(self, preview_long_edge: int) -> EngineWarning:
        """The warning of a result rendered from a preview of ``preview_long_edge`` px instead."""
        cause = _SENSOR_CAUSES[self.problem]
        return EngineWarning(
            self.problem,
            f"{cause}: shown from the camera's {preview_long_edge} px preview.",
            self.detail,
        )


class ImageTooLarge(ImagingError):
    """The declared pixel count exceeds the configured limit (decompression bomb guard)."""

    code = "image_too_large"


def preview_aspect_mismatch(preview: tuple[int, int], sensor: tuple[int, int]) -> EngineWarning:
    return EngineWarning(
        PREVIEW_ASPECT_MISMATCH,
        "The camera's preview is framed differently from the sensor image, so it was not used.",
        f"embedded preview {preview[0]}x{preview[1]} does not match the aspect of the "
        f"{sensor[0]}x{sensor[1]} sensor image",
    )


def dng_opcodes_skipped(lists: tuple[str, ...]) -> EngineWarning:
    return EngineWarning(
        DNG_OPCODES_SKIPPED,
        "The file asks for lens and sensor corrections that were not applied.",
        f"DNG {', '.join(lists)} not applied by the engine's own DNG reader",
    )


def describe_exception(exc: BaseException) -> str:
    """A one-line technical summary for a ``detail`` field: the class and its text."""
    text = exc.args[0] if len(exc.args) == 1 else (str(exc) if exc.args else "")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{type(exc).__name__}: {text}" if str(text) else type(exc).__name__
