"""The normalised metadata record of a RAW file.

The container is read by libexiv2 (``exiv2_reader``) on its own, before and whatever
LibRaw does with the pixels: a file whose sensor data is cut off, stripped, or in a
compression LibRaw does not know still gets its full record. LibRaw, when it opened the
file, supplies the sensor facts and fills in capture fields the container does not
hold. Field values follow exiftool's conventions so the two can be compared;
``docs/metadata.md`` lists every key, its source and the measured agreement with
exiftool that chose the reader.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from .exiv2_reader import Exiv2Tags, clean_text, read_exiv2
from .rawfile import RawFile

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
SRGB, ADOBE_RGB, UNCALIBRATED = "sRGB", "Adobe RGB", "Uncalibrated"

# LibRaw flip codes to EXIF orientation: 3 = 180, 5 = 90 CCW, 6 = 90 CW.
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}
_QUARTER_TURN_FLIPS = (5, 6)

_EXIF_DATETIME = re.compile(r"(\d{4}):(\d\d):(\d\d)[ T](\d\d):(\d\d):(\d\d)")
_UTC_OFFSET = re.compile(r"([+-])(\d\d):(\d\d)")
_XMP_OFFSET = re.compile(r"T\d\d:\d\d(?::\d\d(?:\.\d+)?)?([+-]\d\d:\d\d)$")
_LEADING_INT = re.compile(r"\s*(\d+)")
# Real UTC offsets run from -12:00 to +14:00; anything else is a misread maker note.
_MAX_OFFSET_MINUTES = 14 * 60

# Maker-note tags, in order of preference, for fields EXIF itself may not hold.
_MAKER_LENS_NAMES = (
    "Exif.Canon.LensModel",
    "Exif.CanonCs.LensType",
    "Exif.NikonLd4.LensID",
    "Exif.NikonLd3.LensIDNumber",
    "Exif.NikonLd2.LensIDNumber",
    "Exif.NikonLd1.LensIDNumber",
    "Exif.Sony2.LensID",
    "Exif.Sony1.LensID",
    "Exif.Minolta.LensID",
    "Exif.Pentax.LensType",
    "Exif.PentaxDng.LensType",
    "Exif.OlympusEq.LensModel",
    "Exif.OlympusEq.LensType",
    "Exif.Panasonic.LensType",
    "Exif.Fujifilm.LensModel",
    "Exif.Samsung2.LensType",
)
_BODY_SERIALS = (
    "Exif.Photo.BodySerialNumber",
    "Exif.Image.CameraSerialNumber",
    "Xmp.exifEX.BodySerialNumber",
    "Xmp.aux.SerialNumber",
    "Exif.Canon.SerialNumber",
    "Exif.Nikon3.SerialNumber",
    "Exif.Nikon3.SerialNO",
    "Exif.Pentax.SerialNumber",
    "Exif.PentaxDng.SerialNumber",
    "Exif.Sony2.SerialNumber",
    "Exif.OlympusEq.SerialNumber",
    "Exif.Olympus.SerialNumber",
    "Exif.Fujifilm.SerialNumber",
    "Exif.Sigma.SerialNumber",
    "Exif.Samsung2.SerialNumber",
)
_LENS_SERIALS = (
    "Exif.Photo.LensSerialNumber",
    "Xmp.exifEX.LensSerialNumber",
    "Xmp.aux.LensSerialNumber",
    "Exif.Canon.LensSerialNumber",
    "Exif.OlympusEq.LensSerialNumber",
)
_SHUTTER_COUNTS = (
    "Exif.Nikon3.ShutterCount",
    "Exif.Canon.ShutterCount",
    "Exif.Pentax.ShutterCount",
    "Exif.PentaxDng.ShutterCount",
    "Exif.SonyMisc3c.ShutterCount",
    "Exif.Sony2010e.ShutterCount",
    "Exif.Sony2Fp.ShutterCount",
    "Exif.Olympus2.ShutterCount",
)
_WHITE_BALANCE_SETTINGS = (
    "Exif.Nikon3.WhiteBalance",
    "Exif.CanonSi.WhiteBalance",
    "Exif.Sony2.WhiteBalance",
    "Exif.Sony1.WhiteBalance",
    "Exif.Minolta.WhiteBalance",
    "Exif.Pentax.WhiteBalance",
    "Exif.PentaxDng.WhiteBalance",
    "Exif.Panasonic.WhiteBalance",
    "Exif.Fujifilm.WhiteBalance",
    "Exif.OlympusIp.WhiteBalance",
    "Exif.Olympus.WhiteBalance",
    "Exif.Olympus2.WhiteBalance",
    "Exif.Samsung2.WhiteBalance",
    "Exif.Sigma.WhiteBalance",
)
_MAKER_COLOUR_SPACES = (
    "Exif.Canon.ColorSpace",
    "Exif.Nikon3.ColorSpace",
    "Exif.Sony2.ColorSpace",
    "Exif.Pentax.ColorSpace",
    "Exif.PentaxDng.ColorSpace",
    "Exif.OlympusCs.ColorSpace",
    "Exif.Sigma.ColorSpace",
)
# exiv2's texts for a lens id it cannot name.
_UNNAMED_LENS = re.compile(r"^(n/a|unknown.*|\(\d+\)|\d+( \d+)*|none)$", re.IGNORECASE)

MetadataRecord = dict[str, Any]


def read_tags(raw: RawFile) -> Exiv2Tags:
    """The container's tags (EXIF, maker notes, XMP), read without LibRaw."""
    return read_exiv2(raw.content)


def extract_metadata(
    raw: RawFile, *, unpack: bool = True, tags: Exiv2Tags | None = None
) -> MetadataRecord:
    """Build the normalised, JSON-safe metadata record for an opened RAW file.

    ``tags`` are the container's tags when the caller already read them (``read_tags``).
    rawpy decodes the whole sensor image (0.1-0.9 s) before it reveals black and white
    levels, white balance, CFA layout or its own capture fields. The decode is reused by a
    later ``postprocess``; a caller that will not develop the sensor data passes
    ``unpack=False`` and gets ``None`` for those, with everything the container holds intact.
    """
    t = tags if tags is not None else read_tags(raw)
    fields = capture_fields(t)
    lib = raw.libraw
    unpacked = lib if unpack else None
    other = _libraw_attr(unpacked, "other")
    lens = _libraw_attr(unpacked, "lens")
    exposure_time = fields["exposure_time"] or _positive(other, "shutter_speed")
    orientation = fields["orientation"]
    if orientation not in range(1, 9):
        orientation = _orientation_from_libraw(lib)
    width, height = _display_size(t, lib, orientation)
    iso = fields["iso"]
    if iso is None and (libraw_iso := _positive(other, "iso_speed")) is not None:
        iso = round(libraw_iso)
    offset = fields["time_zone_offset"]
    local = fields["taken_at"] or _libraw_timestamp(other)
    return {
        "camera_make": fields["camera_make"],
        "camera_model": fields["camera_model"],
        "lens_make": fields["lens_make"] or _libraw_text(lens, "make"),
        "lens_model": fields["lens_model"] or _libraw_text(lens, "model"),
        "lens_serial": fields["lens_serial"],
        "serial_number": fields["body_serial"],
        "body_serial": fields["body_serial"],
        "shutter_count": fields["shutter_count"],
        "iso": iso,
        "f_number": _rounded(fields["f_number"] or _positive(other, "aperture")),
        "exposure_time": exposure_time,
        "exposure_time_display": (
            format_exposure_time(exposure_time) if exposure_time is not None else None
        ),
        "focal_length_mm": _rounded(fields["focal_length_mm"] or _positive(other, "focal_length")),
        "focal_length_35mm": fields["focal_length_35mm"],
        "exposure_bias_ev": fields["exposure_bias_ev"],
        "exposure_program": fields["exposure_program"],
        "metering_mode": fields["metering_mode"],
        "flash_fired": fields["flash_fired"],
        "white_balance": fields["white_balance"],
        "white_balance_setting": fields["white_balance_setting"],
        "colour_space": fields["colour_space"],
        "taken_at": f"{local}{offset}" if local and offset else local,
        "time_zone_offset": offset,
        "orientation": orientation,
        "width": width,
        "height": height,
        "gps": fields["gps"],
        "software": fields["software"],
        "artist": fields["artist"] or (None if len(t) else _libraw_text(other, "artist")),
        "copyright": fields["copyright"],
        "raw": _raw_facts(raw, unpacked),
        "exif": exif_to_json(t),
    }


def format_exposure_time(seconds: float) -> str:
    """Write a shutter speed the way exiftool prints it: "1/250" below 1/4 s, else "2.5"."""
    if 0 < seconds < 0.25001:
        return f"1/{int(0.5 + 1 / seconds)}"
    text = f"{seconds:.1f}"
    return text.removesuffix(".0")


# --- capture fields from the container -------------------------------------------------


def capture_fields(t: Exiv2Tags) -> dict[str, Any]:
    """Every field the container itself records, in the record's units; no LibRaw.

    ``taken_at`` is the camera's wall-clock time (no zone) and ``time_zone_offset`` its
    UTC offset when the file records one; ``extract_metadata`` joins them.
    """
    flash = t.integer("Exif.Photo.Flash", "Exif.Image.Flash")
    return {
        "camera_make": t.text("Exif.Image.Make", "Exif.PanasonicRaw.Make", "Xmp.tiff.Make"),
        "camera_model": t.text("Exif.Image.Model", "Exif.PanasonicRaw.Model", "Xmp.tiff.Model"),
        "lens_make": t.text("Exif.Photo.LensMake", "Xmp.exifEX.LensMake"),
        "lens_model": lens_name(t),
        "lens_serial": _serial(t, _LENS_SERIALS),
        "body_serial": _serial(t, _BODY_SERIALS),
        "shutter_count": _leading_int(t, _SHUTTER_COUNTS),
        "iso": _iso(t),
        "f_number": _positive_number(t, "Exif.Photo.FNumber", "Exif.Image.FNumber"),
        "exposure_time": _positive_number(t, "Exif.Photo.ExposureTime", "Exif.Image.ExposureTime"),
        "focal_length_mm": _positive_number(t, "Exif.Photo.FocalLength", "Exif.Image.FocalLength"),
        "focal_length_35mm": t.integer("Exif.Photo.FocalLengthIn35mmFilm") or None,
        "exposure_bias_ev": t.number(
            "Exif.Photo.ExposureBiasValue", "Exif.Image.ExposureBiasValue"
        ),
        "exposure_program": _named(
            EXPOSURE_PROGRAMS, t.integer("Exif.Photo.ExposureProgram", "Exif.Image.ExposureProgram")
        ),
        "metering_mode": _named(
            METERING_MODES, t.integer("Exif.Photo.MeteringMode", "Exif.Image.MeteringMode")
        ),
        "flash_fired": bool(flash & 1) if flash is not None else None,
        "white_balance": _named(WHITE_BALANCE, t.integer("Exif.Photo.WhiteBalance")),
        "white_balance_setting": _white_balance_setting(t),
        "colour_space": colour_space(t),
        "taken_at": _local_time(t),
        "time_zone_offset": time_zone_offset(t),
        "orientation": t.integer("Exif.Image.Orientation"),
        "gps": _gps(t),
        "software": t.text("Exif.Image.Software"),
        "artist": t.text("Exif.Image.Artist"),
        "copyright": t.text("Exif.Image.Copyright"),
    }


def lens_name(t: Exiv2Tags) -> str | None:
    """EXIF LensModel, else XMP's lens, else the maker note's lens model or named lens id."""
    name = t.text("Exif.Photo.LensModel", "Xmp.exifEX.LensModel", "Xmp.aux.Lens")
    if name is not None:
        return name
    for key in _MAKER_LENS_NAMES:
        printed = t.printed(key)
        if printed is not None and not _UNNAMED_LENS.match(printed):
            return printed
    return None


def colour_space(t: Exiv2Tags) -> str | None:
    """sRGB or Adobe RGB, as a viewer must take the camera's JPEG; ``None`` if unrecorded.

    EXIF ColorSpace 1 is sRGB. Adobe RGB files are written "Uncalibrated" (0xFFFF) with
    the interoperability index ``R03`` (DCF option file), or say so in the maker note.
    """
    code = t.integer("Exif.Photo.ColorSpace")
    if code == 1:
        return SRGB
    if code == 2:
        return ADOBE_RGB
    if (t.text("Exif.Iop.InteroperabilityIndex") or "").upper() == "R03":
        return ADOBE_RGB
    for key in _MAKER_COLOUR_SPACES:
        printed = (t.printed(key) or "").lower().replace(" ", "")
        if printed == "srgb":
            return SRGB
        if printed == "adobergb":
            return ADOBE_RGB
    return UNCALIBRATED if code == 0xFFFF else None


def time_zone_offset(t: Exiv2Tags) -> str | None:
    """The capture's UTC offset as "+05:30", from the first source that records one.

    EXIF OffsetTimeOriginal, then OffsetTime, then TIFF/EP and DNG TimeZoneOffset (hours),
    then XMP DateTimeOriginal, then the maker notes' world-time zones (Nikon, Canon) with
    their daylight-saving hour. ``None`` means the camera recorded local time only.
    """
    for key in ("Exif.Photo.OffsetTimeOriginal", "Exif.Photo.OffsetTime"):
        text = t.text(key)
        if text is not None and (match := _UTC_OFFSET.fullmatch(text)) is not None:
            sign = -1 if match.group(1) == "-" else 1
            return format_offset(sign * (int(match.group(2)) * 60 + int(match.group(3))))
    hours = t.number("Exif.Image.TimeZoneOffset", "Exif.Photo.TimeZoneOffset")
    if hours is not None:
        return format_offset(round(hours * 60))
    xmp = _XMP_OFFSET.search(t.text("Xmp.exif.DateTimeOriginal", "Xmp.photoshop.DateCreated") or "")
    if xmp is not None:
        return xmp.group(1)
    nikon = t.number("Exif.NikonWt.Timezone")
    if nikon is not None:
        dst = 60 if t.integer("Exif.NikonWt.DaylightSavings") == 1 else 0
        return format_offset(round(nikon) + dst)
    canon = t.number("Exif.CanonTi.TimeZone")
    if canon is not None:
        return format_offset(round(canon) + (t.integer("Exif.CanonTi.DaylightSavings") or 0))
    return None


def format_offset(minutes: int) -> str | None:
    """``330`` -> "+05:30"; ``None`` for an offset no place on Earth uses."""
    if abs(minutes) > _MAX_OFFSET_MINUTES:
        return None
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def _serial(t: Exiv2Tags, keys: tuple[str, ...]) -> str | None:
    """The first serial number recorded as text (a multi-value number is a misread)."""
    for key in keys:
        value = t.get(key)
        if value is None or len(value.numbers) > 1:
            continue
        if (text := clean_text(value.printed)) is not None and text.strip("0 ") != "":
            return text
    return None


def _leading_int(t: Exiv2Tags, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        match = _LEADING_INT.match(t.printed(key) or "")
        if match is not None:
            return int(match.group(1))
    return None


def _iso(t: Exiv2Tags) -> int | None:
    iso = t.integer("Exif.Photo.ISOSpeedRatings", "Exif.Image.ISOSpeedRatings")
    if iso:
        return iso
    return _leading_int(t, ("Exif.CanonSi.ISOSpeed",)) or None


def _positive_number(t: Exiv2Tags, *keys: str) -> float | None:
    number = t.number(*keys)
    return number if number is not None and number > 0 else None


def _white_balance_setting(t: Exiv2Tags) -> str | None:
    """The maker note's white-balance preset ("Daylight", "Fluorescent", "Auto"...)."""
    for key in _WHITE_BALANCE_SETTINGS:
        printed = t.printed(key)
        if printed is None or printed.startswith("("):
            continue
        # Nikon writes its presets in capitals ("SUNNY"); exiftool shows them as words.
        words = " ".join(printed.split())
        return words.title() if words.isupper() else words
    return None


def _rounded(value: float | None) -> float | None:
    """Drop float32 noise from LibRaw values (5.599999904 -> 5.6) and rational excess."""
    return round(value, 4) if value is not None else None


def _named(names: dict[int, str], code: int | None) -> str | None:
    if code is None:
        return None
    return names.get(code, f"Unknown ({code})")


def _local_time(t: Exiv2Tags) -> str | None:
    """DateTimeOriginal as ISO 8601 wall-clock time, with sub-seconds when recorded."""
    stamp = t.text("Exif.Photo.DateTimeOriginal", "Exif.Image.DateTimeOriginal")
    match = _EXIF_DATETIME.match(stamp or "")
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        taken = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    text = taken.isoformat()
    subsec = t.text("Exif.Photo.SubSecTimeOriginal")
    if subsec is not None and subsec.isdigit():
        text += f".{subsec}"
    return text


def _gps(t: Exiv2Tags) -> dict[str, float | None] | None:
    """Signed decimal degrees (S and W negative) and metres (below sea level negative)."""
    latitude = _degrees(t.numbers("Exif.GPSInfo.GPSLatitude"))
    longitude = _degrees(t.numbers("Exif.GPSInfo.GPSLongitude"))
    if latitude is None or longitude is None or abs(latitude) > 90 or abs(longitude) > 180:
        return None
    if (t.text("Exif.GPSInfo.GPSLatitudeRef") or "").upper().startswith("S"):
        latitude = -latitude
    if (t.text("Exif.GPSInfo.GPSLongitudeRef") or "").upper().startswith("W"):
        longitude = -longitude
    altitude = t.number("Exif.GPSInfo.GPSAltitude")
    if altitude is not None and t.integer("Exif.GPSInfo.GPSAltitudeRef") == 1:
        altitude = -altitude
    return {"latitude": latitude, "longitude": longitude, "altitude_m": altitude}


def _degrees(dms: tuple[float, ...] | None) -> float | None:
    if not dms or not all(math.isfinite(v) for v in dms):
        return None
    degrees, minutes, seconds = [*dms, 0.0, 0.0][:3]
    return degrees + minutes / 60 + seconds / 3600


def exif_to_json(t: Exiv2Tags) -> dict[str, Any]:
    """The container's tags as JSON-safe values (PostgreSQL ``jsonb`` included).

    Keys are exiv2's (``Exif.Photo.ExposureTime``, ``Exif.Nikon3.ShutterCount``,
    ``Xmp.aux.Lens``). A single finite number stays a number, anything else is exiv2's
    interpreted text ("Aperture priority", "Canon EF 50mm f/1.2L USM"); NULs are removed.
    Tags exiv2 has no name for (``Exif.Sony2Fp.0x0002``) and values over 1024 characters
    are left out: they are undecoded data.
    """
    out: dict[str, Any] = {}
    for key, value in t.items():
        if (
            len(value.numbers) == 1
            and math.isfinite(value.numbers[0])
            and (value.printed.strip() == value.text.strip())
        ):
            number = value.numbers[0]
            out[key] = int(number) if number.is_integer() else number
            continue
        text = value.printed.replace("\x00", "").strip()
        text = text.encode("utf-8", "replace").decode("utf-8")
        if text:
            out[key] = text
    return out


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
    return clean_text(value) if isinstance(value, str) else None


def _libraw_timestamp(other: Any) -> str | None:
    """LibRaw's capture time; it uses the epoch for "unknown"."""
    stamp = getattr(other, "timestamp", None)
    if isinstance(stamp, datetime) and stamp.year > 1970:
        return stamp.replace(tzinfo=None).isoformat()
    return None


def _orientation_from_libraw(lib: Any) -> int | None:
    sizes = _libraw_attr(lib, "sizes")
    return _FLIP_TO_ORIENTATION.get(getattr(sizes, "flip", -1)) if sizes is not None else None


def _display_size(t: Exiv2Tags, lib: Any, orientation: int | None) -> tuple[int | None, int | None]:
    """Width and height of the developed image as displayed (after orientation).

    LibRaw's ``sizes.width/height`` is what ``postprocess`` returns before its flip;
    without LibRaw, the largest image the EXIF describes stands in.
    """
    sizes = _libraw_attr(lib, "sizes")
    if sizes is not None and sizes.width > 0 and sizes.height > 0:
        if sizes.flip in _QUARTER_TURN_FLIPS:
            return int(sizes.height), int(sizes.width)
        return int(sizes.width), int(sizes.height)
    candidates = _image_sizes(t)
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


def _image_sizes(t: Exiv2Tags) -> list[tuple[int, int]]:
    """(width, height) of every image the TIFF structure describes, maker notes aside."""
    sizes = []
    for key in t:
        group, _, name = key.rpartition(".")
        if name == "ImageWidth" and (group == "Exif.Image" or group.startswith("Exif.SubImage")):
            width, height = t.integer(key), t.integer(f"{group}.ImageLength")
            if width and height:
                sizes.append((width, height))
    width = t.integer("Exif.Photo.PixelXDimension")
    height = t.integer("Exif.Photo.PixelYDimension")
    if width and height:
        sizes.append((width, height))
    return sizes
