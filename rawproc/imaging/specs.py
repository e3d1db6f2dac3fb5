"""Rendition specs: what to render, independent of how it is rendered.

A spec is a value (name, long-edge size or full, format, quality), so variants are
keyed by the spec rather than by a hard-coded list of sizes, as Wagtail renditions are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Format = Literal["jpeg", "webp", "avif", "tiff16"]
FORMATS: tuple[Format, ...] = ("jpeg", "webp", "avif", "tiff16")
EXTENSIONS: dict[Format, str] = {"jpeg": "jpg", "webp": "webp", "avif": "avif", "tiff16": "tif"}
CONTENT_TYPES: dict[Format, str] = {
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "avif": "image/avif",
    "tiff16": "image/tiff",
}
# Formats encoded losslessly, for which a quality means nothing and is refused.
LOSSLESS: frozenset[Format] = frozenset({"tiff16"})
# Formats made at 16 bits per channel in a wide-gamut space, only ever from the sensor data.
WIDE_GAMUT: frozenset[Format] = frozenset({"tiff16"})
DEFAULT_QUALITY: dict[Format, int] = {"jpeg": 85, "webp": 82, "avif": 60, "tiff16": 100}

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class RenditionSpec:
    """One rendition to produce: ``size`` is the long edge in pixels, ``None`` for full size."""

    name: str
    size: int | None
    format: Format = "jpeg"
    quality: int | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"invalid rendition name {self.name!r}")
        if self.size is not None and not 16 <= self.size <= 65535:
            raise ValueError(f"rendition size must be 16..65535 or full, got {self.size}")
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}; expected one of {FORMATS}")
        if self.quality is not None and self.format in LOSSLESS:
            raise ValueError(f"{self.format} is lossless and takes no quality")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be 1..100, got {self.quality}")

    @property
    def is_full(self) -> bool:
        return self.size is None

    @property
    def wide_gamut(self) -> bool:
        """A 16-bit wide-gamut master: made from the sensor data, never from a preview."""
        return self.format in WIDE_GAMUT

    @property
    def effective_quality(self) -> int:
        return self.quality if self.quality is not None else DEFAULT_QUALITY[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    def with_format(self, fmt: Format) -> RenditionSpec:
        return RenditionSpec(self.name, self.size, fmt, self.quality)

    @classmethod
    def parse(cls, text: str) -> RenditionSpec:
        """Parse ``name:size[:format[:quality]]`` where size is pixels or ``full``."""
        parts = text.strip().split(":")
        if len(parts) < 2 or len(parts) > 4:
            raise ValueError(f"rendition spec {text!r} must be name:size[:format[:quality]]")
        name, size_text = parts[0], parts[1]
        size = None if size_text == "full" else _int(size_text, "size")
        fmt = parts[2] if len(parts) > 2 else "jpeg"
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
        quality = _int(parts[3], "quality") if len(parts) > 3 else None
        return cls(name, size, fmt, quality)


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, got {text!r}") from None


THUMBNAIL = RenditionSpec("thumbnail", 320)
PREVIEW = RenditionSpec("preview", 2048)
FULL = RenditionSpec("full", None)
BUILTIN: dict[str, RenditionSpec] = {s.name: s for s in (THUMBNAIL, PREVIEW, FULL)}
DEFAULT_SPECS: tuple[RenditionSpec, ...] = (THUMBNAIL, PREVIEW)
