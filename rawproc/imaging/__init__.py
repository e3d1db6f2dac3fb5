"""raw-processor's imaging engine: RAW in, metadata and web renditions out. No Django.

The names below are loaded on first use (PEP 562), so importing a light submodule such as
``rawproc.imaging.specs`` (the settings do) or ``rawproc.imaging.rawfile`` (the API's
upload sniffing does) does not load the decoders (numpy, OpenCV, LibRaw, exiv2).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import EngineOptions, ProcessResult, Rendition, process_raw, read_metadata
    from .errors import CorruptFile, ImageTooLarge, ImagingError, UnsupportedFormat
    from .specs import BUILTIN, DEFAULT_SPECS, FORMATS, RenditionSpec

_HOMES = {
    **dict.fromkeys(
        ("EngineOptions", "ProcessResult", "Rendition", "process_raw", "read_metadata"), "engine"
    ),
    **dict.fromkeys(
        ("CorruptFile", "ImageTooLarge", "ImagingError", "UnsupportedFormat"), "errors"
    ),
    **dict.fromkeys(("BUILTIN", "DEFAULT_SPECS", "FORMATS", "RenditionSpec"), "specs"),
}

__all__ = [
    "BUILTIN",
    "DEFAULT_SPECS",
    "FORMATS",
    "CorruptFile",
    "EngineOptions",
    "ImageTooLarge",
    "ImagingError",
    "ProcessResult",
    "Rendition",
    "RenditionSpec",
    "UnsupportedFormat",
    "process_raw",
    "read_metadata",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
