"""Reading a RAW file's EXIF, maker notes and XMP with libexiv2.

libexiv2 (the PyPI package ``exiv2`` ships it inside its wheel) parses the container
itself, never the sensor data: TIFF-based RAWs, CR3 (ISO BMFF), CRW (CIFF), RAF, MRW,
ORF and RW2, with maker notes for Canon, Nikon, Sony, Pentax, Olympus, Panasonic, Fujifilm
and others, and it names lenses from the maker notes' lens ids. A damaged structure loses
what is inside it; what was read before it is kept.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import exiv2

# Tags with more values than this are blobs (tone curves, maker-note arrays): kept out of
# the numbers, which are read only for short scalar or vector tags.
_MAX_NUMBERS = 64
# Printed values longer than this are undecoded data, not text.
_MAX_PRINTED = 1024

_NUMERIC_TYPES = frozenset(
    {
        "Byte",
        "Short",
        "Long",
        "Rational",
        "SByte",
        "SShort",
        "SLong",
        "SRational",
        "Float",
        "Double",
        "Long8",
        "SLong8",
        "Ifd",
    }
)

_setup_lock = threading.Lock()
_set_up = False


@dataclass(frozen=True)
class Exiv2Value:
    """One tag: its raw value as text, exiv2's interpretation, and its numbers."""

    text: str
    printed: str
    numbers: tuple[float, ...]


class Exiv2Tags(Mapping[str, Exiv2Value]):
    """The tags of one file keyed like exiv2 (``Exif.Photo.ExposureTime``, ``Xmp.aux.Lens``)."""

    def __init__(self, tags: dict[str, Exiv2Value]) -> None:
        self._tags = tags

    def __getitem__(self, key: str) -> Exiv2Value:
        return self._tags[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tags)

    def __len__(self) -> int:
        return len(self._tags)

    def text(self, *keys: str) -> str | None:
        """The first non-blank raw text among ``keys``, padding removed."""
        for key in keys:
            value = self._tags.get(key)
            if value is not None and (cleaned := clean_text(value.text)):
                return cleaned
        return None

    def printed(self, *keys: str) -> str | None:
        """The first non-blank interpreted value among ``keys``."""
        for key in keys:
            value = self._tags.get(key)
            if value is not None and (cleaned := clean_text(value.printed)):
                return cleaned
        return None

    def number(self, *keys: str) -> float | None:
        """The first value of the first numeric tag among ``keys``."""
        for key in keys:
            value = self._tags.get(key)
            if value is not None and value.numbers and math.isfinite(value.numbers[0]):
                return value.numbers[0]
        return None

    def numbers(self, key: str) -> tuple[float, ...] | None:
        value = self._tags.get(key)
        return value.numbers if value is not None and value.numbers else None

    def integer(self, *keys: str) -> int | None:
        number = self.number(*keys)
        return int(number) if number is not None else None


def clean_text(value: str) -> str | None:
    """Trim padding (spaces, NULs) the way exiftool does; ``None`` when nothing is left."""
    text = value.replace("\x00", " ").strip()
    return text or None


def _set_up_exiv2() -> None:
    """Silence libexiv2's own warnings (it prints them on stderr) once per process."""
    global _set_up
    with _setup_lock:
        if not _set_up:
            exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)
            _set_up = True


def read_exiv2(source: Path | bytes) -> Exiv2Tags:
    """Every EXIF and XMP tag libexiv2 reads from a file (a path or its bytes).

    An unreadable or unrecognised container gives an empty map, never an error.
    """
    _set_up_exiv2()
    tags: dict[str, Exiv2Value] = {}
    try:
        image = exiv2.ImageFactory.open(str(source) if isinstance(source, Path) else source)
    except (exiv2.Exiv2Error, OSError, ValueError):
        return Exiv2Tags(tags)
    # What was parsed before a damaged structure is kept.
    with contextlib.suppress(exiv2.Exiv2Error, OSError, ValueError):
        image.readMetadata()
    _collect_exif(image, tags)
    _collect_xmp(image, tags)
    return Exiv2Tags(tags)


def _collect_exif(image: exiv2.Image, tags: dict[str, Exiv2Value]) -> None:
    data = image.exifData()
    for datum in data:
        try:
            key = datum.key()
            if key in tags:  # the first of repeated tags, as exiftool reports it
                continue
            tags[key] = Exiv2Value(
                text=_text(datum),
                printed=_printed(datum, data),
                numbers=_numbers(datum),
            )
        except (exiv2.Exiv2Error, ValueError, OverflowError, UnicodeError):
            continue


def _collect_xmp(image: exiv2.Image, tags: dict[str, Exiv2Value]) -> None:
    try:
        data = image.xmpData()
    except exiv2.Exiv2Error:
        return
    for datum in data:
        try:
            key = datum.key()
            text = datum.toString()
        except (exiv2.Exiv2Error, ValueError, UnicodeError):
            continue
        if key not in tags and len(text) <= _MAX_PRINTED:
            tags[key] = Exiv2Value(text=text, printed=text, numbers=())


def _text(datum: exiv2.Exifdatum) -> str:
    if datum.size() > _MAX_PRINTED * 4:
        return ""
    text = str(datum.toString())
    return text if len(text) <= _MAX_PRINTED else ""


def _printed(datum: exiv2.Exifdatum, data: exiv2.ExifData) -> str:
    if datum.size() > _MAX_PRINTED * 4:
        return ""
    text = str(datum.print(data))
    return text if len(text) <= _MAX_PRINTED else ""


def _numbers(datum: exiv2.Exifdatum) -> tuple[float, ...]:
    if datum.typeName() not in _NUMERIC_TYPES or not 0 < datum.count() <= _MAX_NUMBERS:
        return ()
    numbers = []
    for index in range(datum.count()):
        if datum.typeName() in ("Rational", "SRational"):
            num, den = datum.toRational(index)
            number = num / den if den else math.nan
        else:
            number = float(datum.toFloat(index))
        numbers.append(number if math.isfinite(number) else math.nan)
    return tuple(numbers)
