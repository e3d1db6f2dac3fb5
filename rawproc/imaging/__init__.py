"""raw-processor's imaging engine: RAW in, metadata and web renditions out. No Django."""

from .engine import EngineOptions, ProcessResult, Rendition, process_raw, read_metadata
from .errors import CorruptFile, ImageTooLarge, ImagingError, UnsupportedFormat
from .specs import BUILTIN, DEFAULT_SPECS, FORMATS, RenditionSpec

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
