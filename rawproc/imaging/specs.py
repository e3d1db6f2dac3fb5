"""Rendition specs: what to render, independent of how it is rendered.

A spec is a value (name, long-edge size or full, format, quality), so variants are
keyed by the spec rather than by a hard-coded list of sizes, as Wagtail renditions are.

The text form, shared by the settings, the CLI and the API (see docs/api.md)::

    spec  = size [ "." format [ "." quality ] ]     e.g. 1080, 1080.webp, 2048.jpeg.85
    size  = 16..65535 | "full"
    format = "jpeg" | "webp" | "avif" | "tiff16"
    quality = 1..100

A spec's identity is its ``key``, the canonical text with the quality always spelled out
(``2048.jpeg.85``), so a change of a default quality changes the key. Names such as
``thumbnail`` are aliases of specs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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

# Names label a spec (an alias, or the key of an unnamed spec with "-" for ".").
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# The format tokens of the text form. A token the engine cannot render (not in
# ``FORMATS``) parses, and is refused by ``RenditionSpec`` with ``FormatUnsupported``.
SPEC_FORMATS: tuple[str, ...] = ("jpeg", "webp", "avif", "tiff16")
_SIZE = re.compile(r"^(full|[0-9]{1,5})$")
_QUALITY = re.compile(r"^[0-9]{1,3}$")


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

    @property
    def key(self) -> str:
        """The canonical text of the spec, quality included: its identity (a lossless
        format has no quality: ``full.tiff16``)."""
        size = "full" if self.size is None else str(self.size)
        if self.format in LOSSLESS:
            return f"{size}.{self.format}"
        return f"{size}.{self.format}.{self.effective_quality}"

    def named(self, name: str) -> RenditionSpec:
        return RenditionSpec(name, self.size, self.format, self.quality)

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


class SpecError(ValueError):
    """A rendition spec text that cannot be used; ``code`` is the API's stable error code."""

    code = "rendition_spec_invalid"


class FormatUnsupported(SpecError):
    """A format of the grammar that this engine does not render."""

    code = "rendition_format_unsupported"


@dataclass(frozen=True)
class SpecText:
    """A parsed spec text; ``format`` is ``None`` when the text left it out."""

    size: int | None
    format: str | None
    quality: int | None

    def spec(self, fmt: str | None = None, *, name: str | None = None) -> RenditionSpec:
        """The spec, in ``fmt`` when the text named no format (default JPEG)."""
        chosen = self.format or fmt or "jpeg"
        if chosen not in FORMATS:
            raise FormatUnsupported(f"this server does not render {chosen!r} renditions yet")
        spec = RenditionSpec("unnamed", self.size, chosen, self.quality)
        return spec.named(name or key_name(spec.key))


def key_name(key: str) -> str:
    """The name of an unnamed spec: its key with ``-`` for ``.`` (``1080-webp-82``)."""
    return key.replace(".", "-")


def parse_spec_text(text: str) -> SpecText:
    """Parse ``size[.format[.quality]]``; ``SpecError`` says what is wrong."""
    parts = text.strip().split(".")
    if not 1 <= len(parts) <= 3 or not _SIZE.match(parts[0]):
        raise SpecError(
            f"{text!r} is not a rendition spec: expected size[.format[.quality]], "
            "size in pixels or 'full', e.g. 1080.webp or full.avif"
        )
    size = None if parts[0] == "full" else int(parts[0])
    if size is not None and not 16 <= size <= 65535:
        raise SpecError(f"rendition size must be 16..65535 or full, got {size}")
    fmt = parts[1] if len(parts) > 1 else None
    if fmt is not None and fmt not in SPEC_FORMATS:
        raise SpecError(f"unknown format {fmt!r}; expected one of {', '.join(SPEC_FORMATS)}")
    quality = None
    if len(parts) > 2:
        if not _QUALITY.match(parts[2]) or not 1 <= int(parts[2]) <= 100:
            raise SpecError(f"quality must be a whole number 1..100, got {parts[2]!r}")
        if fmt in LOSSLESS:
            raise SpecError(f"{fmt} is lossless and takes no quality: {parts[0]}.{fmt}")
        quality = int(parts[2])
    return SpecText(size, fmt, quality)


def parse_rendition(text: str, aliases: Mapping[str, RenditionSpec]) -> RenditionSpec:
    """One rendition of a list (``RAWPROC_RENDITIONS``, ``--renditions``): an alias
    (``thumbnail``), ``name=spec`` (``thumbnail=320.webp``), a spec (``1080.webp``, named
    by its key), or the older ``name:size[:format[:quality]]``."""
    item = text.strip()
    if "=" in item:
        name, _, spec_text = item.partition("=")
        name = name.strip()
        if not _ALIAS.match(name):
            raise SpecError(
                f"alias {name!r} must be lower-case letters, digits, '_' or '-', "
                "starting with a letter"
            )
        return parse_spec_text(spec_text).spec(name=name)
    if item in aliases:
        return aliases[item]
    if ":" in item:
        try:
            return RenditionSpec.parse(item)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
    return parse_spec_text(item).spec()


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
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
