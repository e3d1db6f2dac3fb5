"""The normalised metadata record of a RAW file.

exifread reads the TIFF/EXIF structures, maker notes included, and stops at the headers,
so a 50 MB file costs a few small reads. LibRaw, already opened by ``open_raw``, supplies
the sensor facts and fills in capture fields exifread cannot reach (CRW, CR3 without its
metadata boxes). Field values follow exiftool's conventions so the two can be compared;
``docs/metadata.md`` lists every key and its source.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from functools import partial
from typing import Any, BinaryIO

from exifread.core.exceptions import ExifNotFound, InvalidExif
from exifread.core.exif_header import ExifHeader
from exifread.core.find_exif import determine_type
from exifread.core.ifd_tag import IfdTag
from exifread.serialize import convert_types
from exifread.tags.exif import GPS_TAGS
from exifread.tags.fields import FieldType

from .isobmff import find_cr3_metadata
from .rawfile import RawFile

log = logging.getLogger(__name__)

# Values longer than this (bytes, characters or list items) are undecoded blobs: the
# MakerNote itself, tone curves, XMP packets. They are left out of the ``exif`` map.
MAX_EXIF_VALUE_LEN = 1024

EXPOSURE_PROGRAMS = {
    0: "Not Defined",
    1: "Manual",
    2: "Program AE",
    3: "Aperture-priority AE",
    4: "Shutter speed priority AE",
    5: "Creative (Slow speed)",
    6: "Action (High speed)",
    7: "Portrait",
    8: "Landscape",
    9: "Bulb",
}
METERING_MODES = {
    0: "Unknown",
    1: "Average",
    2: "Center-weighted average",
    3: "Spot",
    4: "Multi-spot",
    5: "Multi-segment",
    6: "Partial",
    255: "Other",
}
WHITE_BALANCE = {0: "Auto", 1: "Manual"}

# LibRaw flip codes to EXIF orientation: 3 = 180, 5 = 90 CCW, 6 = 90 CW.
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}
_QUARTER_TURN_FLIPS = (5, 6)

_EXIF_DATETIME = re.compile(r"(\d{4}):(\d\d):(\d\d)[ T](\d\d):(\d\d):(\d\d)")
_UTC_OFFSET = re.compile(r"[+-]\d\d:\d\d")

MetadataRecord = dict[str, Any]


def extract_metadata(raw: RawFile, *, unpack: bool = True) -> MetadataRecord:
    """Build the normalised, JSON-safe metadata record for an opened RAW file.

    rawpy decodes the whole sensor image (0.1-0.9 s) before it reveals black and white
    levels, white balance, CFA layout or its own capture fields. The decode is reused by a
    later ``postprocess``; a caller that will not develop the sensor data passes
    ``unpack=False`` and gets ``None`` for those, with everything exifread reads intact.
    """
    with raw.stream() as fh:
        tags = read_exif_tags(fh, raw.format)
    t = _Tags(tags)
    lib = raw.libraw
    unpacked = lib if unpack else None
    other = _libraw_attr(unpacked, "other")
    lens = _libraw_attr(unpacked, "lens")
    exposure_time = t.number("EXIF ExposureTime", "Image ExposureTime") or _positive(
        other, "shutter_speed"
    )
    orientation = t.integer("Image Orientation")
    if orientation not in range(1, 9):
        orientation = _orientation_from_libraw(lib)
    width, height = _display_size(t, lib, orientation)
    iso = t.integer("EXIF ISOSpeedRatings", "Image ISOSpeedRatings")
    if iso is None and (libraw_iso := _positive(other, "iso_speed")) is not None:
        iso = round(libraw_iso)
    flash = t.integer("EXIF Flash", "Image Flash")
    return {
        "camera_make": t.text("Image Make"),
        "camera_model": t.text("Image Model"),
        "lens_make": t.text("EXIF LensMake") or _libraw_text(lens, "make"),
        "lens_model": t.text("EXIF LensModel", "MakerNote LensModel")
        or _libraw_text(lens, "model"),
        "serial_number": t.text("EXIF BodySerialNumber", "MakerNote SerialNumber"),
        "iso": iso,
        "f_number": _rounded(
            t.number("EXIF FNumber", "Image FNumber") or _positive(other, "aperture")
        ),
        "exposure_time": exposure_time,
        "exposure_time_display": (
            format_exposure_time(exposure_time) if exposure_time is not None else None
        ),
        "focal_length_mm": _rounded(
            t.number("EXIF FocalLength", "Image FocalLength") or _positive(other, "focal_length")
        ),
        "focal_length_35mm": t.integer("EXIF FocalLengthIn35mmFilm") or None,
        "exposure_bias_ev": t.number("EXIF ExposureBiasValue", "Image ExposureBiasValue"),
        "exposure_program": _named(
            EXPOSURE_PROGRAMS, t.integer("EXIF ExposureProgram", "Image ExposureProgram")
        ),
        "metering_mode": _named(
            METERING_MODES, t.integer("EXIF MeteringMode", "Image MeteringMode")
        ),
        "flash_fired": bool(flash & 1) if flash is not None else None,
        "white_balance": _named(WHITE_BALANCE, t.integer("EXIF WhiteBalance")),
        "taken_at": _taken_at(t) or _libraw_timestamp(other),
        "orientation": orientation,
        "width": width,
        "height": height,
        "gps": _gps(t),
        "software": t.text("Image Software"),
        "artist": t.text("Image Artist") or (None if tags else _libraw_text(other, "artist")),
        "copyright": t.text("Image Copyright"),
        "raw": _raw_facts(raw, unpacked),
        "exif": exif_to_json(tags),
    }


def format_exposure_time(seconds: float) -> str:
    """Write a shutter speed the way exiftool prints it: "1/250" below 1/4 s, else "2.5"."""
    if 0 < seconds < 0.25001:
        return f"1/{int(0.5 + 1 / seconds)}"
    text = f"{seconds:.1f}"
    return text.removesuffix(".0")


# --- exifread ---------------------------------------------------------------------------


class _Header(ExifHeader):
    """exifread's IFD parser, reading the MakerNote blob in one call.

    exifread unpacks the MakerNote (often over 100 KB) with one seek and read per byte,
    about 70 ms on a NEF; a single read gives the same list of byte values.
    """

    def _process_field(
        self, tag_name: str, count: int, field_type: Any, type_length: int, offset: int
    ) -> list[Any]:
        if (
            tag_name == "MakerNote"
            and count >= 1000
            and field_type in (FieldType.BYTE, FieldType.UNDEFINED)
        ):
            self.file_handle.seek(self.offset + offset)
            return list(self.file_handle.read(count))
        result: list[Any] = super()._process_field(tag_name, count, field_type, type_length, offset)
        return result

    def decode_maker_note(self) -> None:
        """Decode a Nikon type-2 note in its own byte order, not the file's.

        The note carries its own TIFF header; a DNG converter writes the file little-endian
        around a big-endian note, which exifread would otherwise read as garbage.
        """
        note = self.tags["EXIF MakerNote"].values
        file_endian = self.endian
        if note[:7] == list(b"Nikon\x00\x02") and bytes(note[10:12]) in (b"II", b"MM"):
            self.endian = chr(note[10])
        try:
            super().decode_maker_note()
        finally:
            self.endian = file_endian


def read_exif_tags(fh: BinaryIO, fmt: str) -> dict[str, Any]:
    """Every tag exifread decodes, maker notes included, keyed like "EXIF ExposureTime".

    A garbled structure loses only the part that fails: what was decoded before it is kept.
    """
    tags: dict[str, Any] = {}
    if fmt == "CR3":
        _read_cr3_tags(fh, tags)
    else:
        _read_tiff_tags(fh, tags)
    return tags


def _attempt(what: str, step: Callable[[], None]) -> None:
    """Run one exifread step; third-party parsing of hostile bytes may raise anything."""
    try:
        step()
    except Exception as exc:
        log.debug("exifread failed on %s: %r", what, exc)


def _header(fh: BinaryIO, base: int, tags: dict[str, Any], fake_exif: int = 0) -> _Header | None:
    """A parser for the TIFF stream at ``base``, adding its tags to ``tags``."""
    fh.seek(base)
    order = fh.read(2)
    if order not in (b"II", b"MM"):
        return None
    hdr = _Header(fh, order[:1].decode(), base, fake_exif, False, False, True, True)
    hdr.tags = tags
    return hdr


def _read_tiff_tags(fh: BinaryIO, tags: dict[str, Any]) -> None:
    """Follow exifread's ``process_file`` for TIFF-based RAWs, without the thumbnail copy."""
    fh.seek(0)
    try:
        base, _, fake_exif = determine_type(fh)
    except (ExifNotFound, InvalidExif, ValueError, IndexError):
        return
    hdr = _header(fh, base, tags, fake_exif)
    if hdr is None:
        return

    def main_ifds() -> None:
        for index, ifd in enumerate(hdr.list_ifd()):
            name = "Image" if index == 0 else "Thumbnail" if index == 1 else f"IFD {index}"
            hdr.dump_ifd(ifd, name)

    def exif_ifd() -> None:
        if (pointer := tags.get("Image ExifOffset")) is not None:
            hdr.dump_ifd(pointer.values[0], "EXIF")

    def sub_ifds() -> None:
        if (pointers := tags.get("Image SubIFDs")) is not None:
            for index, offset in enumerate(pointers.values):
                hdr.dump_ifd(offset, f"EXIF SubIFD{index}")

    def maker_note() -> None:
        if "EXIF MakerNote" in tags and "Image Make" in tags:
            hdr.decode_maker_note()

    for what, step in (
        ("IFD chain", main_ifds),
        ("EXIF IFD", exif_ifd),
        ("SubIFDs", sub_ifds),
        ("maker note", maker_note),
    ):
        _attempt(what, step)


def _read_cr3_tags(fh: BinaryIO, tags: dict[str, Any]) -> None:
    """Parse the CMT1..CMT4 TIFF streams of a CR3 under exifread's usual tag names."""
    streams = find_cr3_metadata(fh)
    for box, ifd_name, tag_dict in (
        ("CMT1", "Image", None),
        ("CMT2", "EXIF", None),
        ("CMT4", "GPS", GPS_TAGS),
    ):
        if box in streams and (hdr := _header(fh, streams[box][0], tags)) is not None:
            _attempt(box, partial(_dump_first_ifd, hdr, ifd_name, tag_dict))
    if "CMT3" in streams and "Image Make" in tags:
        hdr = _header(fh, streams["CMT3"][0], tags)
        if hdr is not None:
            _attempt("CMT3", lambda: _decode_canon_maker_note(hdr, tags))


def _dump_first_ifd(hdr: _Header, ifd_name: str, tag_dict: Any) -> None:
    hdr.dump_ifd(hdr.s2n(4, 4), ifd_name, tag_dict)


def _decode_canon_maker_note(hdr: _Header, tags: dict[str, Any]) -> None:
    """Decode a CMT3 stream with exifread's Canon maker-note decoder.

    The decoder reads the note's IFD at the MakerNote tag's offset, so a stand-in tag
    points it at the stream's first IFD; the stand-in is removed afterwards.
    """
    tags["EXIF MakerNote"] = IfdTag("", 0x927C, FieldType.UNDEFINED, [], hdr.s2n(4, 4), 0)
    try:
        hdr.decode_maker_note()
    finally:
        del tags["EXIF MakerNote"]


class _Tags:
    """Typed look-ups over exifread tags; each takes keys in order of preference."""

    def __init__(self, tags: dict[str, Any]) -> None:
        self._tags = tags

    def _values(self, key: str) -> list[Any] | str | None:
        values = getattr(self._tags.get(key), "values", None)
        return values if isinstance(values, str | list) and len(values) > 0 else None

    def text(self, *keys: str) -> str | None:
        for key in keys:
            values = self._values(key)
            if isinstance(values, list):
                values = str(values[0]) if len(values) == 1 else None
            if values and (cleaned := _clean_text(values)):
                return cleaned
        return None

    def number(self, *keys: str) -> float | None:
        for key in keys:
            values = self._values(key)
            if isinstance(values, list) and (number := _to_float(values[0])) is not None:
                return number
        return None

    def integer(self, *keys: str) -> int | None:
        number = self.number(*keys)
        return int(number) if number is not None else None

    def numbers(self, key: str) -> list[float] | None:
        values = self._values(key)
        if not isinstance(values, list):
            return None
        numbers = [_to_float(v) for v in values]
        return None if any(n is None for n in numbers) else [n for n in numbers if n is not None]

    def image_sizes(self) -> list[tuple[int, int]]:
        """(width, height) of every image the TIFF structure describes, maker notes aside."""
        sizes = []
        for key in self._tags:
            if key.endswith(" ImageWidth") and not key.startswith("MakerNote"):
                prefix = key.removesuffix(" ImageWidth")
                width = self.integer(key)
                height = self.integer(f"{prefix} ImageLength")
                if width and height:
                    sizes.append((width, height))
        width = self.integer("EXIF ExifImageWidth")
        height = self.integer("EXIF ExifImageLength")
        if width and height:
            sizes.append((width, height))
        return sizes


def _to_float(value: Any) -> float | None:
    """A finite float from an exifread value (int, Ratio, float tuple), else ``None``."""
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, Fraction):
        if value.denominator == 0:
            return None
        number = float(value)
    elif isinstance(value, int | float):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


def _clean_text(value: str) -> str | None:
    """Trim padding (spaces, NULs) the way exiftool does; ``None`` when nothing is left."""
    text = value.replace("\x00", " ").strip()
    return text or None


def _rounded(value: float | None) -> float | None:
    """Drop float32 noise from LibRaw values (5.599999904 -> 5.6) and rational excess."""
    return round(value, 4) if value is not None else None


def _named(names: dict[int, str], code: int | None) -> str | None:
    if code is None:
        return None
    return names.get(code, f"Unknown ({code})")


def _taken_at(t: _Tags) -> str | None:
    """DateTimeOriginal as ISO 8601, with sub-seconds and the UTC offset when recorded."""
    stamp = t.text("EXIF DateTimeOriginal", "Image DateTimeOriginal")
    match = _EXIF_DATETIME.match(stamp or "")
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        taken = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    text = taken.isoformat()
    subsec = t.text("EXIF SubSecTimeOriginal")
    if subsec is not None and subsec.isdigit():
        text += f".{subsec}"
    offset = t.text("EXIF OffsetTimeOriginal")
    if offset is not None and _UTC_OFFSET.fullmatch(offset):
        text += offset
    return text


def _gps(t: _Tags) -> dict[str, float | None] | None:
    """Signed decimal degrees (S and W negative) and metres (below sea level negative)."""
    latitude = _degrees(t.numbers("GPS GPSLatitude"))
    longitude = _degrees(t.numbers("GPS GPSLongitude"))
    if latitude is None or longitude is None or abs(latitude) > 90 or abs(longitude) > 180:
        return None
    if (t.text("GPS GPSLatitudeRef") or "").upper().startswith("S"):
        latitude = -latitude
    if (t.text("GPS GPSLongitudeRef") or "").upper().startswith("W"):
        longitude = -longitude
    altitude = t.number("GPS GPSAltitude")
    if altitude is not None and t.integer("GPS GPSAltitudeRef") == 1:
        altitude = -altitude
    return {"latitude": latitude, "longitude": longitude, "altitude_m": altitude}


def _degrees(dms: list[float] | None) -> float | None:
    if not dms:
        return None
    degrees, minutes, seconds = [*dms, 0.0, 0.0][:3]
    return degrees + minutes / 60 + seconds / 3600


def exif_to_json(tags: dict[str, Any]) -> dict[str, Any]:
    """The exifread tags as JSON-safe values (PostgreSQL ``jsonb`` included).

    Enumerated tags keep exifread's readable text, ratios become floats, byte strings
    become lists of ints; NULs, non-finite floats and values over
    ``MAX_EXIF_VALUE_LEN`` are dropped.
    """
    out: dict[str, Any] = {}
    for key, tag in tags.items():
        try:  # one tag at a time: exifread's conversion raises on some garbled values
            value = convert_types({key: tag})[key]
        except Exception as exc:
            log.debug("exifread cannot convert %s: %r", key, exc)
            continue
        if isinstance(value, bytes) and getattr(tag, "field_type", None) is FieldType.ASCII:
            value = value.decode("latin-1")
        cleaned = _json_safe(value)
        if cleaned is not None:
            out[key.strip()] = cleaned
    return out


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.replace("\x00", "").strip()
        text = text.encode("utf-8", "replace").decode("utf-8")
        return text if 0 < len(text) <= MAX_EXIF_VALUE_LEN else None
    if isinstance(value, bytes):
        return list(value) if 0 < len(value) <= MAX_EXIF_VALUE_LEN else None
    if isinstance(value, tuple | list):
        if len(value) == 1 and isinstance(value, tuple):
            return _json_safe(value[0])
        return [_json_safe(v) for v in value] if len(value) <= MAX_EXIF_VALUE_LEN else None
    number = _to_float(value)
    return number if number is not None else _json_safe(str(value))


# --- LibRaw -----------------------------------------------------------------------------


def _libraw_attr(lib: Any, name: str) -> Any:
    """A LibRaw property, or ``None`` when LibRaw did not open the file or lacks it."""
    if lib is None:
        return None
    try:
        return getattr(lib, name)
    except Exception:
        return None


def _positive(record: Any, field: str) -> float | None:
    """A LibRaw numeric field, which uses 0 for "unknown"."""
    value = getattr(record, field, None)
    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def _libraw_text(record: Any, field: str) -> str | None:
    value = getattr(record, field, None)
    return _clean_text(value) if isinstance(value, str) else None


def _libraw_timestamp(other: Any) -> str | None:
    """LibRaw's capture time; it uses the epoch for "unknown"."""
    stamp = getattr(other, "timestamp", None)
    if isinstance(stamp, datetime) and stamp.year > 1970:
        return stamp.replace(tzinfo=None).isoformat()
    return None


def _orientation_from_libraw(lib: Any) -> int | None:
    sizes = _libraw_attr(lib, "sizes")
    return _FLIP_TO_ORIENTATION.get(getattr(sizes, "flip", -1)) if sizes is not None else None


def _display_size(t: _Tags, lib: Any, orientation: int | None) -> tuple[int | None, int | None]:
    """Width and height of the developed image as displayed (after orientation).

    LibRaw's ``sizes.width/height`` is what ``postprocess`` returns before its flip;
    without LibRaw, the largest image the EXIF describes stands in.
    """
    sizes = _libraw_attr(lib, "sizes")
    if sizes is not None and sizes.width > 0 and sizes.height > 0:
        if sizes.flip in _QUARTER_TURN_FLIPS:
            return int(sizes.height), int(sizes.width)
        return int(sizes.width), int(sizes.height)
    candidates = t.image_sizes()
    if not candidates:
        return None, None
    width, height = max(candidates, key=lambda size: size[0] * size[1])
    if orientation is not None and orientation >= 5:
        return height, width
    return width, height


def _raw_facts(raw: RawFile, unpacked: Any) -> dict[str, Any]:
    """Sensor facts from LibRaw, ``None`` where LibRaw could not open (or decode) the file.

    ``unpacked`` is the LibRaw handle when its raw data may be decoded, else ``None``.
    """
    sizes = _libraw_attr(raw.libraw, "sizes")
    white = _libraw_attr(unpacked, "white_level")
    return {
        "format": raw.format,
        "cfa_pattern": _cfa_pattern(unpacked),
        "black_level": _int_list(_libraw_attr(unpacked, "black_level_per_channel")),
        "white_level": _positive_int(white),
        "camera_wb": _white_balance(_libraw_attr(unpacked, "camera_whitebalance")),
        "raw_width": _positive_int(getattr(sizes, "raw_width", None)),
        "raw_height": _positive_int(getattr(sizes, "raw_height", None)),
    }


def _cfa_pattern(lib: Any) -> str | None:
    """The colour filter layout read row by row, e.g. "RGGB"; ``None`` for non-mosaic data."""
    pattern = _libraw_attr(lib, "raw_pattern")
    desc = _libraw_attr(lib, "color_desc")
    if pattern is None or not isinstance(desc, bytes):
        return None
    letters = desc.decode("ascii", "replace")
    try:
        return "".join(letters[int(index)] for row in pattern for index in row)
    except (IndexError, TypeError, ValueError):
        return None


def _positive_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and value > 0 else None


def _int_list(values: Any) -> list[int] | None:
    if not isinstance(values, list | tuple) or not values:
        return None
    return [int(v) for v in values]


def _white_balance(values: Any) -> list[float] | None:
    """Camera white balance multipliers (R, G, B, G2) scaled so green is 1.

    LibRaw leaves red, green or blue at 0 or -1 when the file records no white balance.
    """
    if not isinstance(values, list | tuple) or len(values) < 3:
        return None
    multipliers = [float(v) for v in values]
    if not all(math.isfinite(m) and m > 0 for m in multipliers[:3]):
        return None
    return [round(m / multipliers[1], 6) for m in multipliers]
